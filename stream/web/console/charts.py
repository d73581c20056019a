"""Line charts as inline SVG, drawn on the server: no script, no library to vendor, and the page is complete as
it arrives (a browser with scripts off, a screenshot, a proxy's cache all see the same chart)."""

from __future__ import annotations

from collections.abc import Sequence

from recstream.stream.web.console.html import esc, when

WIDTH, HEIGHT, PAD = 320, 90, 18


def line(points: Sequence[tuple[float, float | None]], title: str, unit: str = "", digits: int = 1) -> str:
    """One series (time, value; None = no data) with its title, latest value, range and time span."""
    data = [(t, v) for t, v in points if v is not None]
    if len(data) < 2:
        return (f"<figure><figcaption>{esc(title)}: {esc(_fmt(data[-1][1], digits) + unit if data else 'no data yet')}"
                f"</figcaption></figure>")
    t0, t1 = data[0][0], data[-1][0]
    lo, hi = min(v for _, v in data), max(v for _, v in data)
    span_t, span_v = max(t1 - t0, 1e-9), (hi - lo) or 1.0

    def xy(t: float, v: float) -> str:
        x = PAD + (t - t0) / span_t * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - (v - lo) / span_v * (HEIGHT - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    polyline = " ".join(xy(t, v) for t, v in data)
    return (f"<figure><figcaption>{esc(title)}: <b>{esc(_fmt(data[-1][1], digits))}{esc(unit)}</b></figcaption>"
            f"<svg width={WIDTH} height={HEIGHT} viewBox='0 0 {WIDTH} {HEIGHT}' role=img "
            f"aria-label='{esc(title)}'><polyline points='{polyline}'/>"
            f"<text x=2 y=12>{esc(_fmt(hi, digits))}</text><text x=2 y={HEIGHT - PAD + 4}>{esc(_fmt(lo, digits))}"
            f"</text><text x={PAD} y={HEIGHT - 2}>{esc(when(t0)[11:16])}</text>"
            f"<text x={WIDTH - PAD - 30} y={HEIGHT - 2}>{esc(when(t1)[11:16])}</text></svg></figure>")


def _fmt(v: float, digits: int) -> str:
    return f"{v:,.{digits}f}"
