"""`python -m recstream.stream.cli` = `recstream` (workers and the demo start processes this way)."""

from recstream.stream.cli.main import main

main()
