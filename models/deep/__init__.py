"""The deep next-item model (PyTorch): its config, the network and NumPy scorer, training data and metrics,
the int8 variant, loading a registered version, and training on several processes."""

__all__ = ["config", "model", "training", "quantize", "versions", "distributed"]
