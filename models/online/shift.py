"""Noticing a taste shift as it happens, so the co-occurrence counts can let go of the old tastes.

When tastes move (a season, a launch, a changed catalogue), what users pick next stops being what the counts say
goes with their last item: the share of new pairs whose item was already among the newest item's companions
falls at once (synthetic stream with a shift at 30k: ~0.53 before, ~0.33 just after). `ShiftWatch` feeds that
share, over every `every` new pairs, to River's ADWIN (Bifet and Gavaldà 2007), which finds a change in a
stream's mean with a bound on false alarms (`delta`), and reports a *drop* (a rise is the counts catching up).

On a drop the owner fades every companion count by a factor once (cooccurrence.py): old companions then weigh as
much as a few new pairs, so the new tastes take over the lists within a few hundred positives rather than after
the old counts are outnumbered. A stationary stream rarely sees one (measured in bench/served.py).
"""

from __future__ import annotations

from typing import Any


class ShiftWatch:
    """ADWIN over the known-companion share of new pairs, `every` pairs a value."""

    def __init__(self, delta: float = 0.05, every: int = 20) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"shift delta must be within (0, 1), got {delta}")
        if every < 1:
            raise ValueError(f"shift watch needs >= 1 pairs per value, got {every}")
        self.delta, self.every = delta, every
        self._adwin: Any = None  # River's detector, built on first use (importing River's drift costs ~0.3 s)
        self._paired = self._known = 0
        #: drops found so far
        self.shifts = 0

    def observe(self, paired: int, known: int) -> bool:
        """Add `paired` new pairs, `known` of them to known companions; True when a drop was just found."""
        self._paired += paired
        self._known += known
        found = False
        while self._paired >= self.every:  # one value per `every` pairs, whatever the chunk size
            share = self._known / self._paired
            self._paired = self._known = 0
            found |= self._update(share)
        return found

    def _update(self, share: float) -> bool:
        if self._adwin is None:
            from river.drift import ADWIN

            self._adwin = ADWIN(delta=self.delta, clock=1)
        before = self._adwin.estimation
        self._adwin.update(share)
        if not self._adwin.drift_detected or self._adwin.estimation >= before:
            return False
        self.shifts += 1
        return True
