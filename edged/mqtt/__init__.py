"""``edged mqtt``: a companion process that subscribes to the daemon's ZeroMQ topics and
republishes status, events and throttled prediction summaries to an MQTT broker, with Home
Assistant discovery. It is just another subscriber: it never slows the daemon."""
