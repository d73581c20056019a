"""Secured Kafka, for real: TLS (certificates made here, Debian's stunnel in front of the embedded broker) and SASL
PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 (tests/integration/sasl_proxy.py in front of it), alone and combined.

Every Kafka client recstream creates is exercised: the worker's aiokafka consumer, its dead-letter producer and
Faust app; kafka-python in `recstream topics`, `produce` and `dead-letters`. A wrong password or an untrusted
certificate stops the CLI and the worker at once, naming the setting to fix."""

import os
import time

import pytest
from kafka import KafkaProducer

from recstream.stream.settings import Settings

from .secured import Certificates, SecuredBroker, make_certificates, stunnel_path
from .test_cli import recstream

pytestmark = pytest.mark.integration
# CI sets RECSTREAM_REQUIRE_STUNNEL: there a missing stunnel fails the TLS tests instead of skipping them.
needs_stunnel = pytest.mark.skipif(stunnel_path() is None and not os.environ.get("RECSTREAM_REQUIRE_STUNNEL"),
                                   reason="stunnel is not installed (`make test` installs Debian's stunnel4)")
USERS = {"recstream": "s3cret-pw"}


@pytest.fixture
def certs(tmp_path) -> Certificates:
    return make_certificates(tmp_path / "certs")


def secured(tmp_path, **kwargs) -> SecuredBroker:
    return SecuredBroker(tmp_path, **kwargs).start()


def env_for(broker: SecuredBroker, protocol: str, ca=None, mechanism: str = "SCRAM-SHA-512",
            password: str = USERS["recstream"]) -> dict[str, str]:
    env = {"RECSTREAM_BOOTSTRAP": broker.bootstrap, "RECSTREAM_KAFKA_SECURITY_PROTOCOL": protocol}
    if ca is not None:
        env["RECSTREAM_KAFKA_SSL_CAFILE"] = str(ca)
    if protocol.startswith("SASL_"):
        env.update(RECSTREAM_KAFKA_SASL_MECHANISM=mechanism, RECSTREAM_KAFKA_SASL_USERNAME="recstream",
                   RECSTREAM_KAFKA_SASL_PASSWORD=password)
    return env


@needs_stunnel
def test_a_worker_on_sasl_ssl_learns_dead_letters_and_serves(worker_factory, tmp_path, certs):
    broker = secured(tmp_path, certs=certs, users=USERS)
    try:
        w = worker_factory(**env_for(broker, "SASL_SSL", certs.ca))
        out = recstream("produce", "--synthetic", "--events", "2000", "--users", "100", "--items", "200", env=w.env)
        assert out.returncode == 0, out.stderr
        s = Settings.build(**{k[len("RECSTREAM_"):].lower(): v for k, v in env_for(broker, "SASL_SSL",
                                                                                      certs.ca).items()})
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, **s.kafka.client_options())
        producer.send(w.env["RECSTREAM_TOPIC_BEHAVIOUR"], b"not json at all")
        producer.flush()
        producer.close()
        h = w.wait(lambda h: h["events_learned"] >= 2000 and h["pipeline"]["dead_lettered"], what="the stream")
        assert h["pipeline"]["dead_lettered"] == {"not_json": 1}
        letters = recstream("dead-letters", "--timeout", "2", env=w.env)
        assert letters.returncode == 0 and '"not_json"' in letters.stdout, letters.stdout + letters.stderr
        assert broker.proxy is not None and broker.proxy.refused == 0
        w.stop()  # before its broker goes: a worker that cannot leave its group waits out a timeout
    finally:
        broker.stop()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_each_sasl_mechanism_logs_in_and_a_wrong_password_fails_fast_naming_the_setting(tmp_path, mechanism):
    broker = secured(tmp_path, users=USERS)
    try:
        ok = recstream("topics", env=env_for(broker, "SASL_PLAINTEXT", mechanism=mechanism))
        assert ok.returncode == 0 and "behaviour" in ok.stdout, ok.stderr
        started = time.monotonic()
        wrong = recstream("produce", "--synthetic", "--events", "10",
                          env=env_for(broker, "SASL_PLAINTEXT", mechanism=mechanism, password="guess"))
        assert wrong.returncode == 1 and time.monotonic() - started < 15
        assert f"refused the {mechanism} login of 'recstream'" in wrong.stderr, wrong.stderr
        assert "RECSTREAM_KAFKA_SASL_PASSWORD" in wrong.stderr
        assert broker.proxy is not None and broker.proxy.refused == 1
    finally:
        broker.stop()


@needs_stunnel
def test_tls_trusts_only_the_configured_ca_and_a_worker_refused_stops_at_once(worker_factory, tmp_path, certs):
    broker = secured(tmp_path, certs=certs)
    try:
        ok = recstream("topics", env=env_for(broker, "SSL", certs.ca))
        assert ok.returncode == 0, ok.stderr
        untrusted = recstream("topics", env=env_for(broker, "SSL", certs.other_ca))
        assert untrusted.returncode == 1 and "does not trust" in untrusted.stderr, untrusted.stderr
        assert "RECSTREAM_KAFKA_SSL_CAFILE" in untrusted.stderr
        plain = recstream("topics", env=env_for(broker, "PLAINTEXT"), timeout=30)
        assert plain.returncode == 1 and "does it want TLS?" in plain.stderr, plain.stderr
        started = time.monotonic()
        w = worker_factory(ready=None, **env_for(broker, "SSL", certs.other_ca))
        assert w.process.wait(30) == 1 and time.monotonic() - started < 30
        assert "RECSTREAM_KAFKA_SSL_CAFILE" in w.log.read_text()
    finally:
        broker.stop()


def test_incomplete_security_settings_are_refused_before_connecting(tmp_path):
    out = recstream("topics", env={"RECSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert out.returncode == 2 and "needs RECSTREAM_KAFKA_SASL_USERNAME" in out.stderr, out.stderr
    out = recstream("topics", env={"RECSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
                                   "RECSTREAM_KAFKA_SSL_CAFILE": str(tmp_path / "missing.pem")})
    assert out.returncode == 2 and "RECSTREAM_KAFKA_SSL_CAFILE" in out.stderr and "not a readable file" in out.stderr
