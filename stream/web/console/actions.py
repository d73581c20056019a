"""What an operator can do from the console, each behind a confirmation page: promote, start a canary at a
share, change its share, end it, roll back, retrain now. The registry does the work (and writes the audit log
with the signed-in actor); workers follow within a registry poll.

An action is asked for twice: the form on a page posts its fields, the console answers with what will happen
and a Confirm button carrying the same fields plus `confirmed=yes`; only that second post changes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from recstream.models.store.operations import Operations


class ActionRefused(ValueError):
    """A field is missing or malformed: the message says which and what to send."""


@dataclass(frozen=True)
class Action:
    label: str
    #: the fields it reads (besides csrf/confirmed), in the order the confirmation shows them
    fields: tuple[str, ...]
    describe: Callable[[Mapping[str, str]], str]
    #: does it; returns the page to go back to, naming what changed (`?done=deep-3`): that page reads what the
    #: registry recorded rather than echo text from the URL
    perform: Callable[[Operations, Mapping[str, str]], str]


def _share(fields: Mapping[str, str]) -> float:
    raw = fields.get("share", "")
    try:
        share = float(raw)
    except ValueError:
        raise ActionRefused(f"share must be a number above 0 and at most 1 (0.2 = 20% of users), got {raw!r}") from None
    if not 0 < share <= 1:
        raise ActionRefused(f"share must be above 0 and at most 1: with {share:g} the canary would serve "
                            f"{'nobody' if share <= 0 else 'more than everyone'}")
    return share


def _kind(fields: Mapping[str, str]) -> str:
    return fields.get("kind") or "deep"


def _done(version: str) -> str:
    return f"/console/versions?done={version}"


def _promote(op: Operations, f: Mapping[str, str]) -> str:
    return _done(op.promote(f["version"], f["reason"]).name)


def _canary(op: Operations, f: Mapping[str, str]) -> str:
    return _done(op.promote(f["version"], f["reason"], canary=_share(f)).name)


def _canary_share(op: Operations, f: Mapping[str, str]) -> str:
    return _done(op.set_canary_share(_share(f), f["reason"], _kind(f)).name)


def _end_canary(op: Operations, f: Mapping[str, str]) -> str:
    return _done(op.end_canary(f["reason"], _kind(f)).name)


def _rollback(op: Operations, f: Mapping[str, str]) -> str:
    return _done(op.rollback(f["reason"], to=f.get("to") or None, kind=_kind(f)).name)


def _retrain(op: Operations, f: Mapping[str, str]) -> str:
    run_id, _ = op.retrain(f["reason"], trigger="console")
    return f"/console/runs?done={run_id}"


ACTIONS: dict[str, Action] = {
    "promote": Action("Promote", ("version", "reason"),
                      lambda f: f"Make {f['version']} live: every worker serves it to all users, and the live "
                                f"version it replaces is retired.", _promote),
    "canary": Action("Start canary", ("version", "share", "reason"),
                     lambda f: f"Serve {f['version']} to {_share(f):.0%} of users (the same users on every "
                               f"worker); the rest keep the live version.", _canary),
    "canary-share": Action("Change canary share", ("kind", "share", "reason"),
                           lambda f: f"Serve the running {_kind(f)} canary to {_share(f):.0%} of users.",
                           _canary_share),
    "end-canary": Action("End canary", ("kind", "reason"),
                         lambda f: f"Stop serving the {_kind(f)} canary: its users go back to the live version.",
                         _end_canary),
    "rollback": Action("Roll back", ("kind", "to", "reason"),
                       lambda f: (f"Take the live {_kind(f)} version out and serve "
                                  f"{f.get('to') or 'the version that was live before it'} again."), _rollback),
    "retrain": Action("Retrain now", ("reason",),
                      lambda f: "Queue a training run: the scheduler trains, gates and (if it passes) promotes "
                                "a new version.", _retrain),
}


def checked(name: str, form: Mapping[str, str]) -> tuple[Action, dict[str, str]]:
    """The action and its fields, or ActionRefused saying what is wrong."""
    action = ACTIONS.get(name)
    if action is None:
        raise ActionRefused(f"no console action {name!r}; there are {', '.join(ACTIONS)}")
    fields = {k: form.get(k, "").strip() for k in action.fields}
    if not fields.get("reason"):
        raise ActionRefused("say why: every action needs a reason (it goes into the audit log)")
    if "version" in fields and not fields["version"]:
        raise ActionRefused("name the version (e.g. deep-3)")
    if len(fields["reason"]) > 500:
        raise ActionRefused("keep the reason under 500 characters")
    if "share" in fields:
        _share(fields)
    action.describe(fields)  # raises on what it cannot describe
    return action, fields

