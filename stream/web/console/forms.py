"""The console's two form pages: signing in, and confirming an action."""

from __future__ import annotations

from collections.abc import Mapping

from recstream.stream.web.console.html import esc, hidden, page, section


def sign_in(enabled: bool, error: str | None = None, next_page: str = "/console") -> str:
    if not enabled:
        return page("Sign in", section("Read only", "<p>No operator token is configured: the console shows what "
                                       "the workers do, and nothing can be changed from it. Set "
                                       "<code>RECSTREAM_OPERATOR_TOKEN</code> on the workers to allow actions.</p>"))
    problem = section("Not signed in", esc(error), "warn") if error else ""
    form = (f"<form method=post action='/console/login'>{hidden({'next': next_page})}"
            "<p><label>Operator token <input type=password name=token autocomplete=current-password required>"
            "</label></p><p><label>Your name (for the audit log) <input type=text name=actor maxlength=64 "
            "placeholder=operator></label></p><p><button>Sign in</button></p></form>"
            "<p class=muted>The token is sent once in this form and exchanged for a cookie that scripts cannot "
            "read; it never appears in a URL.</p>")
    return page("Sign in", problem + section("Operator token", form))


def confirm(name: str, label: str, what: str, fields: Mapping[str, str], csrf: str, *, actor: str) -> str:
    listed = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in fields.items() if v)
    body = (f"<p>{esc(what)}</p><table>{listed}</table>"
            f"<form method=post action='/console/actions/{esc(name)}'>"
            f"{hidden({**fields, 'csrf': csrf, 'confirmed': 'yes'})}"
            f"<p><button id=confirm>Confirm: {esc(label)}</button> <a href='/console/versions'>Cancel</a></p></form>")
    return page(f"Confirm: {label}", section("Are you sure?", body, "warn"), actor=actor, csrf=csrf)


def refused(message: str, *, actor: str | None = None, csrf: str | None = None, status_page: str = "/console") -> str:
    return page("Not done", section("Refused", f"<p>{esc(message)}</p><p><a href='{esc(status_page)}'>Back</a></p>",
                                    "warn"), actor=actor, csrf=csrf)
