"""Where the events are: brokers, topics, the consumer group, and how clients authenticate (TLS, SASL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from recstream.stream.settings.base import Component

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(Component):
    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    topic_behaviour: str = Field("recstream.behaviour", description="topic of user-behaviour events")
    topic_feedback: str = Field("recstream.feedback", description="topic of feedback on served recommendations")
    topic_dead_letter: str = Field("recstream.dead-letter", description="where invalid input goes, with reasons")
    topic_items: str = Field("recstream.items", description="topic of catalogue updates, keyed by item_id "
                                                           "(created compacted)")
    # Per behaviour topic and group: deltas describe that group's partitions of that topic.
    topic_item_deltas: str | None = Field(None, description="what each worker's own events taught the item side, "
                                          "for its peers (one partition; unset: <behaviour topic>.<group id>.deltas)")
    topic_partitions: int = Field(4, ge=1, description="partitions when recstream creates the topics")
    group_id: str = Field("recstream-worker", description="consumer group of the stream workers")
    #: The embedded broker's group join waits about half of this: keep it low in dev and tests.
    session_timeout_s: float = Field(10.0, gt=0, description="Kafka consumer session timeout, seconds")
    # Security, for every Kafka client recstream creates (worker, Faust app, admin, produce, dead-letters).
    kafka_security_protocol: Protocol = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) the broker's certificate is checked "
                                                           "against (unset = the system's CAs)")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (PEM), for brokers that want one")
    kafka_ssl_keyfile: Path | None = Field(None, description="the client certificate's private key (PEM)")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="password of that key, if it has one")
    kafka_ssl_check_hostname: bool = Field(True, description="the broker's certificate must name its host")
    kafka_sasl_mechanism: Mechanism = Field("PLAIN", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    kafka_sasl_username: str | None = Field(None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")

    @field_validator("bootstrap")
    @classmethod
    def _check_bootstrap(cls, v: str) -> str:
        for server in v.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"RECSTREAM_BOOTSTRAP must be host:port[,host:port], got {v!r}")
        return v

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _readable(cls, v: Path | None, info: Any) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"{v} is not a readable file (set {cls.env_name(info.field_name)} to a PEM file)")
        return v

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(f"RECSTREAM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "RECSTREAM_KAFKA_SASL_USERNAME and RECSTREAM_KAFKA_SASL_PASSWORD")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("a client certificate needs both RECSTREAM_KAFKA_SSL_CERTFILE and "
                             "RECSTREAM_KAFKA_SSL_KEYFILE")
        return self

    @property
    def tls(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def client_options(self) -> dict[str, Any]:
        """Security keyword arguments for kafka-python and aiokafka clients (both take these names)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.kafka_security_protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_sasl_username,
                           sasl_plain_password=self.kafka_sasl_password.get_secret_value()  # type: ignore[union-attr]
                           )
        return options

    def ssl_context(self) -> Any:
        import ssl

        from recstream.models.errors import ConfigError

        try:
            ctx = ssl.create_default_context(cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)
            ctx.check_hostname = self.kafka_ssl_check_hostname
            if self.kafka_ssl_certfile is not None:
                password = self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else None
                ctx.load_cert_chain(str(self.kafka_ssl_certfile), str(self.kafka_ssl_keyfile), password)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"the Kafka TLS files cannot be used ({exc}): check RECSTREAM_KAFKA_SSL_CAFILE, "
                              "RECSTREAM_KAFKA_SSL_CERTFILE, RECSTREAM_KAFKA_SSL_KEYFILE and "
                              "RECSTREAM_KAFKA_SSL_KEY_PASSWORD") from None
        return ctx
