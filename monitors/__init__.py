"""recstream.monitors — see README.md for the architecture."""

# Guard against the repo root on sys.path loading this folder as a second, top-level package
# (two copies of module state, two Faust apps). Install with `pip install -e .` and import recstream.monitors.
if __name__ != "recstream.monitors":
    raise ImportError(f"import this package as recstream.monitors, not {__name__!r} (run `pip install -e .` first)")
