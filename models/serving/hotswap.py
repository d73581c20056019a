"""Hot-swapping the deep model in a running process, and blending it with the online model.

`DeepSlot.poll()` asks the registry which versions are live and in canary (one indexed query) and, when that
changed, loads the new artefact — checksum and signature verified — off the request path, then swaps one
reference. A request holds the `LoadedModel` it started with, so in-flight requests finish on the old model.
Recently served versions stay loaded, so a rollback to one of them is a pointer swap.

A version that fails to load (missing or tampered artefact) is refused and logged; whatever was serving keeps
serving, and the refusal is shown in /healthz until the registry names another version.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from recstream.models.artefacts.files import read_verified
from recstream.models.artefacts.keys import ArtefactKeys
from recstream.models.deep.config import PAD
from recstream.models.errors import RecstreamError
from recstream.models.online.recommender import OnlineRecommender
from recstream.models.store.registry import ModelVersion, Registry

if TYPE_CHECKING:
    from recstream.models.deep.model import DeepModel
    from recstream.models.deep.quantize import Int8Scorer

log = logging.getLogger("recstream.hotswap")


@dataclass
class LoadedModel:
    """A deep version ready to serve: its scorer (float32 NumPy, or the int8 variant when the registry says it
    ranks within tolerance) and its item vocabulary."""

    version: ModelVersion
    #: NumpyScorer or Int8Scorer: `.scores(rows)` over every item row
    scorer: Any
    row_of: dict[str, int]
    history: int
    precision: str = "float32"
    loaded_at: float = field(default_factory=time.time)
    #: per online learner (its item_ids list, held so its id is not reused): online item row -> deep model row
    #: (PAD = unknown to this version), extended as the catalogue grows. Per learner: a restored checkpoint, or
    #: each learner of a multi-worker replay, numbers items its own way.
    _rows: dict[int, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_model(cls, version: ModelVersion, model: DeepModel) -> LoadedModel:
        return cls(version, model.scorer, model.row_of, model.config.history)

    @classmethod
    def from_int8(cls, version: ModelVersion, q: Int8Scorer) -> LoadedModel:
        return cls(version, q, q.row_of, len(q.position), "int8")

    def rows(self, item_ids: Sequence[str]) -> list[int]:
        return [self.row_of.get(i, PAD) for i in item_ids]

    def rows_for(self, online: OnlineRecommender) -> np.ndarray:
        n, ids = online.n_items, online.item_ids
        cached = self._rows.get(id(ids))
        rows = cached[1] if cached is not None and cached[0] is ids else np.zeros(0, dtype=np.int64)
        if len(rows) < n:  # item_ids only ever grows: map just the new ones
            rows = np.concatenate([rows, np.array(self.rows(ids[len(rows):n]), dtype=np.int64)])
            if cached is None and len(self._rows) >= 16:  # learners replaced (restores): forget the oldest
                del self._rows[next(iter(self._rows))]
            self._rows[id(ids)] = (ids, rows)
        return rows[:n]


def preload() -> None:
    """Import what loading a version needs (torch: about a second). Not when this module is imported, which
    would lengthen a worker's start; the first poll does it, off the request path (later calls cost nothing)."""
    from recstream.models.deep import quantize, versions  # noqa: F401


def load_serving(version: ModelVersion, key: bytes | ArtefactKeys | None) -> LoadedModel:
    """The int8 variant when the version's metrics say it passed its tolerance check, else the float model."""
    from recstream.models.deep.quantize import Int8Scorer
    from recstream.models.deep.versions import load_model

    int8 = (version.metrics or {}).get("int8") or {}
    if int8.get("served") and int8.get("artefact") and int8.get("sha256"):
        data = read_verified(int8["artefact"], int8["sha256"], int8.get("signature"), key)
        return LoadedModel.from_int8(version, Int8Scorer.from_bytes(data))
    return LoadedModel.from_model(version, load_model(version, key))


def in_canary(user_id: str, share: float) -> bool:
    """Sticky assignment: the same user is always on the same side for a given share."""
    if share <= 0:
        return False
    h = int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big")
    return (h % 10_000) < share * 10_000


class DeepSlot:
    """The deep versions one worker serves; `poll()` runs in a background thread, `choose()` on requests."""

    CACHE = 4
    #: A refused version is retried after this long (someone may restore the file).
    RETRY_REFUSED_S = 30.0

    def __init__(self, registry: Registry, key: bytes | ArtefactKeys | None = None, canary_share: float = 0.0) -> None:
        self.registry = registry
        self.key = key
        #: the share of users the canary is served to: the registry's (the operator's choice), else this default
        self.canary_share = self.default_share = canary_share
        self.live: LoadedModel | None = None
        self.canary: LoadedModel | None = None
        self._cache: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
        self._refused: dict[tuple[int, str], tuple[float, str]] = {}
        self._lock = threading.Lock()  # one poll at a time; requests never take it
        self.swaps = 0
        self.last_poll: float | None = None
        self.last_error: str | None = None

    def poll(self) -> bool:
        """Bring live/canary in line with the registry. True when something was swapped."""
        with self._lock:
            serving = self.registry.serving("deep")
            self.last_poll = time.time()
            changed = False
            for status in ("live", "canary"):
                want = serving.get(status)
                have: LoadedModel | None = getattr(self, status)
                if want is None:
                    if have is not None:
                        setattr(self, status, None)
                        changed = True
                        log.info("%s deep model %s withdrawn", status, have.version.name)
                    continue
                if have is not None and have.version.id == want.id and have.version.sha256 == want.sha256:
                    if have.version.status != want.status:
                        have.version = want
                    continue
                loaded = self._load(want)
                if loaded is None:
                    continue  # refused: keep serving what we have
                loaded.version = want
                setattr(self, status, loaded)  # the swap: one reference assignment
                changed = True
                self.swaps += 1
                log.info("%s deep model is now %s", status, want.name)
            canary = serving.get("canary")
            share = canary.canary_share if canary is not None else None
            self.canary_share = self.default_share if share is None else share
            preload()  # the first time only (then an import is a lookup): a first promotion finds torch ready
            return changed

    def _load(self, version: ModelVersion) -> LoadedModel | None:
        key = (version.id, version.sha256 or "")
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        refused = self._refused.get(key)
        if refused is not None and time.time() - refused[0] < self.RETRY_REFUSED_S:
            return None
        try:
            loaded = load_serving(version, self.key)
        except (RecstreamError, ValueError, RuntimeError) as exc:
            self._refused[key] = (time.time(), str(exc))
            self.last_error = f"{version.name}: {exc}"
            log.error("refusing deep model %s: %s", version.name, exc)
            return None
        self._refused.pop(key, None)
        self._cache[key] = loaded
        while len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return loaded

    def choose(self, user_id: str) -> LoadedModel | None:
        canary, live = self.canary, self.live  # read each reference once: a swap mid-request changes neither
        if canary is not None and in_canary(user_id, self.canary_share):
            return canary
        return live

    def state(self) -> dict[str, object]:
        return {"live": self.live.version.name if self.live else None,
                "canary": self.canary.version.name if self.canary else None,
                "precision": {role: m.precision for role, m in (("live", self.live), ("canary", self.canary))
                              if m is not None},
                "canary_share": self.canary_share, "swaps": self.swaps, "last_poll": self.last_poll,
                "last_error": self.last_error}


