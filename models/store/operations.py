"""What an operator can change — promote, start a canary, change its share, end it, roll back, queue a retraining
— written once for the CLI, the HTTP API and the console. The registry checks each change and records it in the
audit log with the actor; this adds what every caller needs around it: a promotion that may be a canary, a
rollback whose kind follows its target, and the retraining request the scheduler picks up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recstream.models.errors import RegistryError
from recstream.models.store.registry import ModelVersion, Registry
from recstream.models.store.runs import RunQueue


@dataclass(frozen=True)
class Operations:
    registry: Registry
    #: who, for the audit log: "cli:alice", "api:operator", "console:ops"
    actor: str
    #: a check of a version before it is served again (the CLI verifies its artefact), or None
    verify: Callable[[ModelVersion], None] | None = None

    def promote(self, ref: str | int, reason: str, canary: float | None = None) -> ModelVersion:
        """Make `ref` live, or, with `canary`, serve it to that share of users."""
        if self.verify is not None:  # the registry looks `ref` up itself
            self.verify(self.registry.get(ref))
        if canary is None:
            return self.registry.promote(ref, actor=self.actor, reason=reason)
        return self.registry.start_canary(ref, share=canary, actor=self.actor, reason=reason)

    def set_canary_share(self, share: float, reason: str, kind: str = "deep") -> ModelVersion:
        return self.registry.set_canary_share(share, actor=self.actor, reason=reason, kind=kind)

    def end_canary(self, reason: str, kind: str = "deep") -> ModelVersion:
        return self.registry.end_canary(actor=self.actor, reason=reason, kind=kind)

    def rollback(self, reason: str, to: str | int | None = None, kind: str | None = None) -> ModelVersion:
        """Serve `to` (or the previous live version) again; the kind is `to`'s, and a different `kind` is refused."""
        if to is not None:
            target = self._verified(to)
            if kind is not None and kind != target.kind:
                raise RegistryError(f"{target.name} is a {target.kind} version, not {kind}")
            kind = target.kind
        return self.registry.rollback(actor=self.actor, reason=reason, to=to, kind=kind or "deep")

    def retrain(self, reason: str | None, trigger: str) -> tuple[int, bool]:
        """(run id, whether it is new): queued for the scheduler; a request already waiting is not doubled."""
        return RunQueue(self.registry.engine).request_retrain(trigger=trigger, requested_by=self.actor, reason=reason)

    def _verified(self, ref: str | int) -> ModelVersion:
        version = self.registry.get(ref)
        if self.verify is not None:
            self.verify(version)
        return version
