"""Fail fast on a secured Kafka that refuses us: one connection made the way every client will make it.

Kafka clients retry a refused login or an untrusted certificate until a timeout and then report only "unable to
bootstrap". One direct connection (aiokafka's, with the same TLS context and SASL settings) tells the reason, so a
wrong password or CA stops the worker or the CLI at once with the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

from recstream.models.errors import ConfigError
from recstream.stream.settings import KafkaSettings

log = logging.getLogger(__name__)


class KafkaAccessRefused(ConfigError):
    """The broker answered but refused this client's TLS or SASL settings."""


def check_access(kafka: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Raise KafkaAccessRefused, naming the setting to fix, when the first broker that answers refuses our
    security settings (or, on PLAINTEXT, wants TLS). An unreachable broker is left to the clients' own retries."""
    asyncio.run(_check(kafka, timeout_s))


async def _check(kafka: KafkaSettings, timeout_s: float) -> None:
    options = kafka.client_options()
    for server in kafka.bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000),
                                     client_id="recstream-access-check", **options)
        except Exception as exc:  # noqa: BLE001 - each kind is explained below, the rest left to the clients
            reason = explain(kafka, f"{host}:{port}", exc)
            if reason is not None:
                raise KafkaAccessRefused(reason) from None
            log.info("Kafka access check: %s:%s did not answer (%r)", host, port, exc)
            continue
        conn.close()
        return


def explain(kafka: KafkaSettings, where: str, exc: BaseException) -> str | None:
    """What the failure means and which setting fixes it; None when it is not about security."""
    protocol = kafka.kafka_security_protocol
    if isinstance(exc, SaslAuthenticationFailed):
        return (f"the Kafka broker at {where} refused the {kafka.kafka_sasl_mechanism} login of "
                f"{kafka.kafka_sasl_username!r} ({exc}): check RECSTREAM_KAFKA_SASL_USERNAME and "
                "RECSTREAM_KAFKA_SASL_PASSWORD")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"the Kafka broker at {where} does not accept SASL {kafka.kafka_sasl_mechanism} there: set "
                "RECSTREAM_KAFKA_SASL_MECHANISM to one it offers, or check RECSTREAM_KAFKA_SECURITY_PROTOCOL")
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname" in str(exc).lower() or "ip address mismatch" in str(exc).lower():
            return (f"the Kafka broker's certificate does not name {where.rpartition(':')[0]} ({exc.verify_message})"
                    ": connect by a name it holds, or set RECSTREAM_KAFKA_SSL_CHECK_HOSTNAME=false")
        return (f"the Kafka broker at {where} presented a certificate this client does not trust "
                f"({exc.verify_message}): set RECSTREAM_KAFKA_SSL_CAFILE to the CA that signed it")
    if isinstance(exc, ssl.SSLError):
        return (f"TLS with the Kafka broker at {where} failed ({exc.reason or exc}): is it a TLS listener? "
                f"(RECSTREAM_KAFKA_SECURITY_PROTOCOL={protocol})")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) and kafka.tls:
        return (f"no TLS handshake with the Kafka broker at {where}: is it a TLS listener? "
                f"(RECSTREAM_KAFKA_SECURITY_PROTOCOL={protocol})")
    if isinstance(exc, KafkaConnectionError) and isinstance(exc.__cause__, ConnectionResetError) and not kafka.tls:
        return (f"the Kafka broker at {where} closed the connection at once: does it want TLS? "
                f"(RECSTREAM_KAFKA_SECURITY_PROTOCOL={protocol})")
    return None
