"""recstream.models — see README.md for the architecture."""

# Guard against the repo root on sys.path loading this folder as a second, top-level package
# (two copies of module state, two Faust apps). Install with `pip install -e .` and import recstream.models.
if __name__ != "recstream.models":
    raise ImportError(f"import this package as recstream.models, not {__name__!r} (run `pip install -e .` first)")
