"""Talking to Kafka: topics, producing events, the embedded development broker."""

__all__ = ["topics", "produce", "broker"]
