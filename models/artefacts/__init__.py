"""Model files at rest, in a directory or object storage: written atomically, identified by sha256, signed,
encrypted, and their keys rotated."""

__all__ = ["encryption", "files", "keys", "rotation", "storage"]
