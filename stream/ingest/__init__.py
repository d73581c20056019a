"""The hot path: records fetched in batches, validated (refusals dead-lettered with a code), stored in helper
processes, de-duplicated and learned, offsets committed; the item feed learns the other workers' partitions
item-side."""

__all__ = [
    "records", "rejections", "events", "contract", "dead_letters", "dedupe", "prepare", "pipeline", "loop", "item_feed", "runtime",
]
