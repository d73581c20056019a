"""The shop's catalogue as recstream knows it: which items may be served, their categories and attributes, and the
masks over a model's item rows that keep the rest out of every list."""

__all__ = ["catalogue", "files", "items", "masks", "policy"]
