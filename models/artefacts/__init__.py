"""Model files at rest: written atomically, identified by sha256, signed, encrypted, and their keys
rotated."""

__all__ = ["keys", "encryption", "files", "rotation"]
