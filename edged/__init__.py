"""edged: an edge inference daemon (frames -> quantized TFLite -> ZeroMQ)."""

__version__ = "0.1.0"
