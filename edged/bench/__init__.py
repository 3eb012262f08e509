"""``edged bench``: the bare interpreter and the full daemon path, measured side by side."""
