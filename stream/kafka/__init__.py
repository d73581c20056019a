"""Talking to Kafka: topics, access checks for secured clusters, producing events, the embedded development broker."""

__all__ = ["topics", "access", "produce", "broker"]
