"""Secured Kafka for tests: certificates made on the spot, TLS and SASL endpoints in front of the embedded broker.

tansu 0.6's own TLS flags do not work and its SASL needs storage engines this wheel lacks (shared/LIBRARY-NOTES.md),
so Debian's stunnel terminates TLS and sasl_proxy.py plays the broker's part of the SASL exchange; the broker
advertises the front's address, so clients never go around it.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from recstream.stream.kafka.broker import EmbeddedBroker, free_port, wait_for_port

from .sasl_proxy import SaslProxy


@dataclass(frozen=True)
class Certificates:
    ca: Path  #: the CA clients trust
    server_cert: Path
    server_key: Path
    other_ca: Path  #: a CA that signed nothing here: trusting only it must fail


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey | None, cert: x509.Certificate | None) -> Path:
    if key is not None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    else:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # type: ignore[union-attr]
    return path


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_certificates(directory: Path, host: str = "localhost") -> Certificates:
    """A CA, a server certificate it signs for `host` (and 127.0.0.1), and an unrelated CA."""
    import ipaddress

    ca_key, ca_cert = _ca("recstream test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    return Certificates(ca=_write(directory / "ca.pem", None, ca_cert),
                        server_cert=_write(directory / "server.pem", None, cert),
                        server_key=_write(directory / "server.key", key, None),
                        other_ca=_write(directory / "other-ca.pem", None, _ca("somebody else")[1]))


def stunnel_path() -> str | None:
    return shutil.which("stunnel4") or shutil.which("stunnel")


class SecuredBroker:
    """The embedded broker behind TLS (stunnel), SASL (sasl_proxy.SaslProxy) or both, in that order: clients
    speak TLS to stunnel, which hands the bytes to the SASL proxy, which pipes authenticated ones to the broker.
    The broker advertises the front's address (`bootstrap`), so clients never go around the fronts."""

    def __init__(self, directory: Path, certs: Certificates | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.directory, self.certs, self.users = directory, certs, users
        self.port = free_port()
        self.broker = EmbeddedBroker(log_path=directory / "broker.log", advertise=self.bootstrap)
        self.proxy: SaslProxy | None = None
        self.stunnel: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    def start(self) -> SecuredBroker:
        self.broker.start()
        behind = self.broker.bootstrap
        if self.users is not None:
            proxy_port = free_port() if self.certs else self.port
            self.proxy = SaslProxy(proxy_port, behind, self.users).start()
            behind = f"127.0.0.1:{proxy_port}"
        if self.certs is not None:
            self._start_stunnel(behind)
        return self

    def _start_stunnel(self, behind: str) -> None:
        conf = self.directory / "stunnel.conf"
        conf.write_text(f"foreground = yes\npid =\noutput = {self.directory / 'stunnel.log'}\n\n[kafka]\n"
                        f"accept = 127.0.0.1:{self.port}\nconnect = {behind}\n"
                        f"cert = {self.certs.server_cert}\nkey = {self.certs.server_key}\n")  # type: ignore[union-attr]
        self.stunnel = subprocess.Popen([stunnel_path() or "stunnel", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_for_port("127.0.0.1", self.port, 10):
            self.stop()
            raise RuntimeError(f"stunnel did not listen on {self.port} (see {self.directory / 'stunnel.log'})")

    def stop(self) -> None:
        if self.stunnel is not None and self.stunnel.poll() is None:
            self.stunnel.terminate()
            self.stunnel.wait(5)
        if self.proxy is not None:
            self.proxy.stop()
        self.broker.stop()
