"""How a worker consumes: batches, helper processes, de-duplication, input limits, checkpoints."""

from __future__ import annotations

from pydantic import Field

from recstream.stream.settings.base import Component


class IngestSettings(Component):
    batch_max: int = Field(2000, ge=1, description="most events handled in one batch")
    batch_within_s: float = Field(0.2, gt=0, description="longest wait to fill a batch, seconds")
    # ~3.5 ms of learning at a time (measured 17.5 us an event at 200, 26 us at 30: per-chunk NumPy overhead).
    learn_chunk: int = Field(200, ge=1, description="events learned between yields to the HTTP server")
    # A request that arrives while a chunk is learned waits for it: ~3.5 ms at 200, most of the p99 under load.
    # Smaller chunks cost ~0.3 ms each in overhead, so they are used only while requests are arriving. 25, not
    # 50: a chunk of 50 took 1.0 ms (p99 3.4 ms) under the freshness load; request p99 4.5-5.3 ms vs 5.4-6.2.
    learn_chunk_serving: int = Field(25, ge=1, description="events learned between yields while requests arrive "
                                     "(one answered within the last second)")
    prepare_in_process: bool = Field(True, description="validate and store in helper processes (other cores)")
    # Two: with one, the helper (~20 us an event validating and storing) was the bottleneck once learning got
    # cheaper than it, and the learner's core idled (bench/ingest.py, 2 cores: 39-40k -> 42-47k events/s).
    prepare_processes: int = Field(2, ge=1, le=32, description="helper processes validating and storing batches")
    dedupe_window: int = Field(1_000_000, ge=1, description="recent event ids remembered so none is learned twice")
    max_event_bytes: int = Field(16 * 1024, ge=256, description="larger messages are dead-lettered")
    max_future_skew_s: float = Field(24 * 3600.0, ge=0, description="how far in the future an event ts may be")
    # bench/served.py, 4 workers vs one (sessions, online model alone): 0.90x without, 1.01x with.
    share_items: bool = Field(True, description="send the item-side counts of this worker's events to its peers "
                              "and add theirs (popularity, co-occurrence), on the item deltas topic")
    share_items_every_s: float = Field(0.5, gt=0, description="how often a worker sends its item-side counts, "
                                       "seconds (checked after each batch)")
    # A pair is 16 bytes (a factor row 136 at 32 dimensions, counted alike): 12k ~ 190 KB of arrays and up to 24k
    # item ids a part, a Kafka message under its 1 MB default limit.
    share_items_max_pairs: int = Field(12_000, ge=100, description="item pairs per delta message; more are "
                                       "sent at once, in several parts")
    learn_feedback: bool = Field(True, description="learn reactions to served lists: clicks and purchases as "
                                 "positives, ignored impressions and skips as exposure negatives")
    checkpoint_interval_s: float | None = Field(
        300.0, gt=0, description="how often a worker checkpoints its online model with its offsets (unset = off)")
    checkpoint_keep: int = Field(5, ge=1, description="retired online checkpoints whose files are kept")
