"""`python -m recstream.stream.cli` = `recstream` (workers and the demo start processes this way)."""

from recstream.stream.cli.main import main

# Spawned helper processes import this module again as __mp_main__: only the real entry point runs the CLI.
if __name__ == "__main__":
    main()
