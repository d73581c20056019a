"""The deep next-item model (PyTorch): its config, the network and NumPy scorer, training data and metrics,
the int8 variant, and loading a registered version."""

__all__ = ["config", "model", "training", "quantize", "versions"]
