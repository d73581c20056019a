"""Which worker answers for a user: this one, or the worker that consumes the user's partition.

Several workers in one consumer group each hold the state of their partitions only; the directory (directory.py)
says who consumes which partition now. A worker that owns no partitions (a new replica, or one the group left
without any) forwards like any other: the directory rows say how many partitions there are. It answers itself
only when nobody else is known to own the user's partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from recstream.models.data.keys import user_partition
from recstream.stream.worker.directory import Directory, WorkerInfo, claims

log = logging.getLogger("recstream.worker")


class Router:
    """This worker's partitions, the owners of the others (as of the last directory read), and the requests it
    forwarded. Without a directory (unit tests, one worker) every user is answered here."""

    def __init__(self, source: str, directory: Directory | None = None) -> None:
        self.source = source
        self.directory = directory
        #: behaviour-topic partitions this worker consumes now, and how many the topic has
        self.assigned: tuple[int, ...] = ()
        self.n_partitions = 0
        #: partition -> the worker consuming it, as of the last directory read
        self.owners: dict[int, WorkerInfo] = {}
        #: requests this worker forwarded to the owner of the user's partition
        self.forwarded = 0

    async def on_assignment(self, partitions: list[int], n_partitions: int) -> None:
        """A rebalance gave this worker `partitions` of the behaviour topic: tell the other workers."""
        self.assigned, self.n_partitions = tuple(partitions), n_partitions
        if self.directory is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.directory.announce, partitions, n_partitions)
            await self.refresh()
        except Exception as exc:  # noqa: BLE001 - routing degrades to local answers; the heartbeat retries
            log.warning("cannot record this worker's partitions in the directory (%s); requests for users of "
                        "other workers' partitions are answered here meanwhile", exc)

    async def refresh(self, heartbeat: bool = False) -> None:
        """Touch this worker's row (with `heartbeat`) and read the others'."""
        if self.directory is None:
            return
        loop = asyncio.get_running_loop()
        if heartbeat:
            await loop.run_in_executor(None, self.directory.heartbeat)
        live = await loop.run_in_executor(None, self.directory.workers)
        owners, alive = claims(live), {w.source for w in live}
        for p, w in self.owners.items():
            # Mid-rebalance a partition may be claimed by nobody for a moment (its old owner re-announced without
            # it, the new one is still restoring): its last owner, still running, still holds its users' state.
            if p not in owners and w.source in alive:
                owners[p] = w
        self.owners = owners

    def owner_of(self, user_id: str) -> WorkerInfo | None:
        """The other worker that holds `user_id`'s state, or None when this worker should answer: it owns the
        user's partition, or nobody else is known to (alone, or mid-rebalance)."""
        n = self.n_partitions or self.known_partitions()
        if not n or not self.owners:
            return None
        p = user_partition(user_id, n)
        if p in self.assigned:
            return None
        owner = self.owners.get(p)
        return owner if owner is not None and owner.source != self.source else None

    def known_partitions(self) -> int:
        """How many partitions the behaviour topic has, as the other workers announced it (0: none known)."""
        return max((w.n_partitions for w in self.owners.values()), default=0)

    def covered(self) -> bool:
        """Whether every partition has a known consumer (this worker or another)."""
        n = self.n_partitions or self.known_partitions()
        return bool(n) and all(p in self.assigned or p in self.owners for p in range(n))

    def group(self) -> list[dict]:
        """The workers of this consumer group and their partitions, as of the last directory read."""
        return sorted((w.as_dict() for w in {w.source: w for w in self.owners.values()}.values()),
                      key=lambda w: w["source"])

    async def prune(self) -> None:
        """Forget the rows of workers gone long ago (housekeeping: a failure here is ignored)."""
        if self.directory is not None:
            with contextlib.suppress(Exception):  # housekeeping only: the next prune tries again
                await asyncio.get_running_loop().run_in_executor(None, self.directory.prune)

    async def leave(self) -> None:
        """This worker stops: its row goes, so nobody forwards to it."""
        if self.directory is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.directory.leave)
