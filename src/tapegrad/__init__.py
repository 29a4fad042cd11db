"""tapegrad: a small deep-learning engine whose every FLOP runs in compiled kernels."""

__version__ = "0.1.0"
