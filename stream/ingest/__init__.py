"""The hot path: records fetched in batches, validated (refusals dead-lettered with a code), stored in helper
processes, de-duplicated and learned, offsets committed; the peer feed learns the other workers' partitions
item-side, and the catalogue feed applies every catalogue update on every worker."""

__all__ = [
    "records", "rejections", "events", "item_events", "contract", "dead_letters", "dedupe", "prepare", "pipeline",
    "loop", "peer_feed", "delta_publisher", "catalogue_feed", "runtime",
]
