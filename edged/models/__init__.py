"""The model catalogue (``catalog``) and its verified downloads (``fetch``)."""
