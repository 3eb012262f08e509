"""``edged web``: a companion process serving a live preview page (frames with the predictions
drawn over them), the status as JSON, and Prometheus metrics. A subscriber of the daemon like
any other; it asks for frames only while someone is watching."""
