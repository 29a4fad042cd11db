"""``tapegrad.config``: the one switch of TF's ``tf.config`` that tapegrad has."""

from .function import functions_run_eagerly, run_functions_eagerly  # noqa: F401

__all__ = ["functions_run_eagerly", "run_functions_eagerly"]
