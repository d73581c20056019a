"""The hot path: records fetched in batches, validated (refusals dead-lettered with a code), stored in helper
processes, de-duplicated and learned, offsets committed."""

__all__ = [
    "records", "rejections", "events", "dead_letters", "dedupe", "prepare", "pipeline", "loop", "runtime",
]
