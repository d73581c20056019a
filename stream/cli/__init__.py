"""`recstream`, the one command: the click group and its sub-commands."""

from recstream.stream.cli.main import main

__all__ = ["main"]
