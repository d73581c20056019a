"""Talking to Kafka: topics, the partition key, producing events, the embedded development broker."""

__all__ = ["topics", "partitioning", "produce", "broker"]
