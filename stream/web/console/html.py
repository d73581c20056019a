"""The console's building blocks: one page frame, tables, forms, notices. Every value goes through `esc`, so a
version reason or a dead letter holding `<script>` shows as text; pages carry a Content-Security-Policy that
allows no script at all (views.py), so even a missed escape could not run one."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;align-items:center;gap:18px}
header a{color:#cfe0ff}header .who{margin-left:auto;color:#aab4c8}header form{display:inline}
main{padding:16px 24px}section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;
margin:0 0 14px}h1{font-size:20px;margin:4px 0 14px}h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;
vertical-align:top}.ok{color:#17803d}.bad{color:#b42318}.muted{color:#6b7385}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:14px}.big{font-size:22px}
.notice{background:#eaf6ee;border-color:#9fd3b0}.warn{background:#fdf1ef;border-color:#f0b7ae}
form.inline{display:inline-flex;gap:4px;margin:2px 0}input,button{font:inherit}input[type=text],
input[type=password],input[type=number]{padding:2px 6px;border:1px solid #c3c9d4;border-radius:4px}
button{padding:2px 10px;border:1px solid #1d2330;border-radius:4px;background:#1d2330;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1d2330}code{font-size:12px;word-break:break-all}
svg{display:block}svg text{font-size:11px;fill:#6b7385}svg polyline{fill:none;stroke:#2f6fde;stroke-width:1.5}"""

PAGES = (("/console", "Overview"), ("/console/versions", "Versions"), ("/console/runs", "Runs"),
         ("/console/drift", "Drift"), ("/console/dead-letters", "Dead letters"))


def esc(value: Any) -> str:
    return html.escape("-" if value is None else str(value), quote=True)


def page(title: str, body: str, *, actor: str | None = None, csrf: str | None = None) -> str:
    """The frame every console page shares: navigation, who is signed in (with a sign-out button)."""
    nav = "".join(f"<a href='{path}'>{esc(name)}</a>" for path, name in PAGES)
    if actor is not None and csrf is not None:
        who = (f"<span class=who>signed in as {esc(actor)}</span><form method=post action='/console/logout'>"
               f"{hidden({'csrf': csrf})}<button class=secondary>Sign out</button></form>")
    else:
        who = "<a class=who href='/console/login'>Sign in</a>"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)} · recstream</title>"
            f"<style>{STYLE}</style></head><body><header><b>recstream</b>{nav}{who}</header>"
            f"<main><h1>{esc(title)}</h1>{body}</main></body></html>")


def section(title: str, body: str, cls: str = "") -> str:
    return f"<section class='{cls}'><h2>{esc(title)}</h2>{body}</section>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Cells are HTML already (escape values with `esc` first)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body or f'<tr><td colspan={len(headers)}>none</td></tr>'}</table>"


def hidden(fields: Mapping[str, Any]) -> str:
    return "".join(f"<input type=hidden name='{esc(k)}' value='{esc(v)}'>" for k, v in fields.items()
                   if v is not None)


def action_form(action: str, label: str, fields: Mapping[str, Any], csrf: str | None, *,
                reason: bool = True, share: float | None = None) -> str:
    """A small form that asks for a confirmation first (actions.py): the reason (and share) typed in line."""
    if csrf is None:
        return ""
    extra = (f"<input type=number name=share min=0.01 max=1 step=0.01 value='{share}' title='share of users'"
             f" style='width:5em'>" if share is not None else "")
    why = "<input type=text name=reason placeholder='reason' required>" if reason else ""
    return (f"<form class=inline method=post action='/console/actions/{esc(action)}'>"
            f"{hidden({**fields, 'csrf': csrf})}{extra}{why}<button>{esc(label)}</button></form>")


def when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def up(flag: bool | None) -> str:
    return "<span>unknown</span>" if flag is None else ("<span class=ok>up</span>" if flag else
                                                         "<span class=bad>down</span>")
