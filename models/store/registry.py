"""The model registry: versions, their lifecycle and an append-only audit log (training runs: runs.py).

Lifecycle of a version (one `live` and at most one `canary` per kind, enforced by partial unique indexes):

    candidate ──gate passed──> live ──promotion of another──> retired
        │                        └────rollback──────────────> rolled_back
        ├──gate failed──> rejected        (an operator may still promote it, with a reason)
        └──canary──> canary ──promote──> live   /  ──rollback──> rolled_back

Every transition writes an audit row with the actor and the reason, in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, desc, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from recstream.models.errors import RegistryError, VersionNotFound
from recstream.models.store.ids import parse_row_id
from recstream.models.store.schema import model_audit, model_versions

KINDS = ("deep", "online")
#: Statuses a version can be promoted or rolled back to: it must have been judged, and not be serving already.
PROMOTABLE = ("candidate", "rejected", "canary", "retired", "rolled_back")


@dataclass(frozen=True)
class ModelVersion:
    id: int
    kind: str
    status: str
    parent_id: int | None
    window_start: float | None
    window_end: float | None
    n_interactions: int | None
    params: dict[str, Any] | None
    metrics: dict[str, Any] | None
    artefact: str | None
    sha256: str | None
    signature: str | None
    created_at: float
    promoted_at: float | None

    @property
    def name(self) -> str:
        """How responses, feedback events and operators refer to this version, e.g. ``deep-7``."""
        return f"{self.kind}-{self.id}"

    @property
    def canary_share(self) -> float | None:
        """The share of users a canary is served to (set when the canary started, changeable while it runs)."""
        share = (self.params or {}).get("canary_share")
        return None if share is None else float(share)

    @classmethod
    def from_row(cls, row: Row[Any]) -> ModelVersion:
        return cls(**row._asdict())

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["name"] = self.name
        return d


def parse_version(ref: str | int) -> int:
    """A version id from ``7``, ``"7"`` or ``"deep-7"``."""
    if isinstance(ref, int):
        return ref
    vid = parse_row_id(ref.rsplit("-", 1)[-1])
    if vid is None:
        raise RegistryError(f"{ref!r} is not a model version: use its id (7) or name (deep-7); "
                            "`recstream models list` shows them")
    return vid


class Registry:
    """Reads and changes model versions. Safe to use from several processes at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- reading -----------------------------------------------------------------------------------------
    def get(self, ref: str | int) -> ModelVersion:
        with self.engine.connect() as conn:
            return ModelVersion.from_row(self._row(conn, parse_version(ref)))

    def list(self, kind: str | None = None, limit: int = 50, before: int | None = None) -> list[ModelVersion]:
        """Newest first; with `before`, only versions older than that id (the next page)."""
        q = select(model_versions).order_by(desc(model_versions.c.id)).limit(limit)
        if kind is not None:
            q = q.where(model_versions.c.kind == kind)
        if before is not None:
            q = q.where(model_versions.c.id < before)
        with self.engine.connect() as conn:
            return [ModelVersion.from_row(r) for r in conn.execute(q)]

    def serving(self, kind: str = "deep") -> dict[str, ModelVersion]:
        """The versions of `kind` now serving, by status ("live", "canary"): one cheap query, polled by workers."""
        q = select(model_versions).where(model_versions.c.kind == kind,
                                         model_versions.c.status.in_(("live", "canary")))
        with self.engine.connect() as conn:
            return {r.status: ModelVersion.from_row(r) for r in conn.execute(q)}

    def live(self, kind: str = "deep") -> ModelVersion | None:
        return self.serving(kind).get("live")

    def audit(self, ref: str | int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(model_audit).order_by(desc(model_audit.c.id)).limit(limit)
        if ref is not None:
            q = q.where(model_audit.c.version_id == parse_version(ref))
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(q)]

    def trails(self, ids: Sequence[int], per_version: int = 3) -> dict[int, list[dict[str, Any]]]:
        """The newest `per_version` audit entries of each version in `ids` (newest first)."""
        out: dict[int, list[dict[str, Any]]] = {}
        q = select(model_audit).where(model_audit.c.version_id.in_(list(ids))).order_by(desc(model_audit.c.id))
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                entries = out.setdefault(r.version_id, [])
                if len(entries) < per_version:
                    entries.append(r._asdict())
        return out

    # ---- changing ----------------------------------------------------------------------------------------
    def register(self, kind: str, *, status: str = "candidate", artefact: str | None = None,
                 sha256: str | None = None, signature: str | None = None, parent_id: int | None = None,
                 window: tuple[float | None, float | None] = (None, None), n_interactions: int | None = None,
                 params: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
                 actor: str = "trainer", reason: str = "registered") -> ModelVersion:
        _require_kind(kind)
        if status not in ("candidate", "rejected"):
            raise RegistryError(f"a new version starts as candidate or rejected, not {status!r}")
        now = time.time()
        with self.engine.begin() as conn:
            vid = conn.execute(insert(model_versions).values(
                kind=kind, status=status, parent_id=parent_id, window_start=window[0], window_end=window[1],
                n_interactions=n_interactions, params=dict(params or {}), metrics=dict(metrics or {}),
                artefact=artefact, sha256=sha256, signature=signature, created_at=now,
            ).returning(model_versions.c.id)).scalar_one()
            self._audit(conn, vid, None, status, actor, reason, now)
        return self.get(vid)

    def promote(self, ref: str | int, *, actor: str, reason: str) -> ModelVersion:
        """Make `ref` the live version of its kind; the one it replaces is retired."""
        return self._make_serving(ref, "live", actor=actor, reason=reason)

    def start_canary(self, ref: str | int, *, share: float, actor: str, reason: str) -> ModelVersion:
        """Serve `ref` to `share` of users (sticky by user id; every worker reads the share from here); a previous
        canary of the kind is retired."""
        _require_share(share)
        return self._make_serving(ref, "canary", actor=actor, reason=reason, share=share)

    def set_canary_share(self, share: float, *, actor: str, reason: str, kind: str = "deep") -> ModelVersion:
        """Change the running canary's share of users (workers follow within a poll)."""
        _require_share(share)
        _require_reason(reason)
        with self.engine.begin() as conn:
            canary = conn.execute(select(model_versions).where(
                model_versions.c.kind == kind, model_versions.c.status == "canary").with_for_update()).first()
            if canary is None:
                raise RegistryError(f"no {kind} version is in canary: start one with `recstream models promote "
                                    "VERSION --canary SHARE`")
            old = (canary.params or {}).get("canary_share")
            conn.execute(update(model_versions).where(model_versions.c.id == canary.id).values(
                params={**(canary.params or {}), "canary_share": share}))
            self._audit(conn, canary.id, "canary", "canary", actor, f"canary share {old} -> {share}: {reason}",
                        time.time())
        return self.get(canary.id)

    def rollback(self, *, actor: str, reason: str, to: str | int | None = None,
                 kind: str = "deep") -> ModelVersion:
        """Take the live version of `kind` out (→ rolled_back) and make `to`, or the previous live one, live."""
        _require_reason(reason)
        _require_kind(kind)
        with self.engine.begin() as conn:
            live = conn.execute(select(model_versions).where(
                model_versions.c.kind == kind, model_versions.c.status == "live").with_for_update()).first()
            if to is not None:
                target = self._row(conn, parse_version(to))
                if target.kind != kind:
                    raise RegistryError(f"version {target.kind}-{target.id} is a {target.kind} model, not {kind}")
            else:
                q = select(model_versions).where(
                    model_versions.c.kind == kind, model_versions.c.status == "retired",
                    model_versions.c.promoted_at.is_not(None)).order_by(desc(model_versions.c.promoted_at)).limit(1)
                target = conn.execute(q).first()
                if target is None:
                    raise RegistryError(f"there is no earlier {kind} version to roll back to "
                                        "(none was live before); name one with --to")
            if live is not None and live.id == target.id:
                raise RegistryError(f"{kind}-{target.id} is already live")
            now = time.time()
            if live is not None:
                self._set(conn, live.id, live.status, "rolled_back", actor, reason, now)
            self._check_promotable(target)
            self._set(conn, target.id, target.status, "live", actor, reason, now, promoted=True)
        return self.get(target.id)

    def last_rollback_at(self, kind: str) -> float | None:
        """When an operator last rolled `kind` back (None: never)."""
        _require_kind(kind)
        q = (select(func.max(model_audit.c.at)).select_from(model_audit.join(
            model_versions, model_versions.c.id == model_audit.c.version_id))
             .where(model_versions.c.kind == kind, model_audit.c.to_status == "rolled_back"))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def end_canary(self, *, actor: str, reason: str, kind: str = "deep") -> ModelVersion:
        """Stop serving the canary of `kind` (→ rolled_back)."""
        _require_reason(reason)
        _require_kind(kind)
        with self.engine.begin() as conn:
            canary = conn.execute(select(model_versions).where(
                model_versions.c.kind == kind, model_versions.c.status == "canary")).first()
            if canary is None:
                raise RegistryError(f"no {kind} version is in canary")
            self._set(conn, canary.id, "canary", "rolled_back", actor, reason, time.time())
        return self.get(canary.id)

    def _make_serving(self, ref: str | int, status: str, *, actor: str, reason: str,
                      share: float | None = None) -> ModelVersion:
        _require_reason(reason)
        vid = parse_version(ref)
        try:
            with self.engine.begin() as conn:
                target = self._row(conn, vid)
                if target.status == status:
                    raise RegistryError(f"{target.kind}-{vid} is already {status}")
                self._check_promotable(target)
                now = time.time()
                current = conn.execute(select(model_versions).where(
                    model_versions.c.kind == target.kind, model_versions.c.status == status).with_for_update()).first()
                if current is not None:
                    self._set(conn, current.id, status, "retired", actor, f"replaced by {target.kind}-{vid}: {reason}",
                              now)
                self._set(conn, vid, target.status, status, actor, reason, now, promoted=status == "live")
                if share is not None:
                    conn.execute(update(model_versions).where(model_versions.c.id == vid).values(
                        params={**(target.params or {}), "canary_share": share}))
        except IntegrityError:
            raise RegistryError(f"another operator changed the {status} version at the same moment; "
                                "check `recstream models list` and try again") from None
        return self.get(vid)

    @staticmethod
    def _check_promotable(row: Row[Any]) -> None:
        if row.status not in PROMOTABLE:
            raise RegistryError(f"{row.kind}-{row.id} is {row.status} and cannot serve")
        if not row.artefact or not row.sha256:
            raise RegistryError(f"{row.kind}-{row.id} has no artefact to serve")

    @staticmethod
    def _row(conn: Connection, vid: int) -> Row[Any]:
        row = conn.execute(select(model_versions).where(model_versions.c.id == vid)).first()
        if row is None:
            raise VersionNotFound(f"no model version {vid}: `recstream models list` shows the versions there are")
        return row

    def _set(self, conn: Connection, vid: int, old: str, new: str, actor: str, reason: str, now: float,
             promoted: bool = False) -> None:
        values: dict[str, Any] = {"status": new}
        if promoted:
            values["promoted_at"] = now
        conn.execute(update(model_versions).where(model_versions.c.id == vid).values(**values))
        self._audit(conn, vid, old, new, actor, reason, now)

    def replace_artefact(self, ref: str | int, *, sha256: str, signature: str | None, actor: str,
                         reason: str) -> None:
        """Record that a version's file was rewritten with the same model (e.g. re-encrypted), in the audit log."""
        _require_reason(reason)
        vid, now = parse_version(ref), time.time()
        with self.engine.begin() as conn:
            status = conn.execute(select(model_versions.c.status).where(model_versions.c.id == vid)).scalar()
            if status is None:
                raise VersionNotFound(f"no model version {ref}")
            conn.execute(update(model_versions).where(model_versions.c.id == vid).values(
                sha256=sha256, signature=signature))
            self._audit(conn, vid, status, status, actor, reason, now)

    @staticmethod
    def _audit(conn: Connection, vid: int, old: str | None, new: str, actor: str, reason: str, now: float) -> None:
        conn.execute(insert(model_audit).values(version_id=vid, from_status=old, to_status=new, actor=actor[:128],
                                                reason=reason, at=now))


def _require_share(share: float) -> None:
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
        raise RegistryError(f"a canary needs a share of users above 0 and at most 1, got {share!r}: with 0 it would "
                            "serve nobody (e.g. --canary 0.1 for 10% of users)")


def _require_kind(kind: str) -> None:
    if kind not in KINDS:
        raise RegistryError(f"model kind must be one of {KINDS}, got {kind!r}")


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise RegistryError("say why: a reason is required for every promotion and rollback (--reason)")
