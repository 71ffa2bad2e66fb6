"""The quality gate's error (kept free of TensorFlow so the command line can catch it)."""


class QualityGateError(Exception):
    """The chosen model is not better than seasonal naive on the validation windows."""
