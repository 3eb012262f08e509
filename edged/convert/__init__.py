"""``edged convert``: a trained Keras model (or SavedModel) to a quantized .tflite, with a report.

TensorFlow is an optional extra (``pip install 'edged[convert]'``) and is imported only when a
conversion actually runs, so the daemon never pays for it.
"""
