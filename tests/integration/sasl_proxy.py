"""A SASL-authenticating front for the embedded broker, for tests only.

tansu 0.6 keeps SCRAM users only in storage engines this wheel does not compile in (shared/LIBRARY-NOTES.md), so
this proxy plays the broker's part of the Kafka SASL exchange (SaslHandshake, then SaslAuthenticate carrying PLAIN
or SCRAM-SHA-256/512 as in KIP-84/KIP-152; SCRAM's server side from `scramp`), refuses a wrong password as a
broker does (error 58, SASL_AUTHENTICATION_FAILED, then the connection closes), and once a client is
authenticated pipes its bytes to the broker untouched. ApiVersions is answered by the broker itself. The broker
advertises the proxy's address, so clients never go around it.
"""

from __future__ import annotations

import asyncio
import struct
import threading

import scramp

SASL_HANDSHAKE, API_VERSIONS, SASL_AUTHENTICATE = 17, 18, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[at]
        value |= (b & 0x7F) << shift
        at += 1
        if not b & 0x80:
            return value, at
        shift += 7


def _put_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Request:
    """One request frame's header, and where its body starts."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.api_key, self.version, self.correlation_id = struct.unpack(">hhi", frame[:8])
        n = struct.unpack(">h", frame[8:10])[0]  # client_id: a nullable int16 string in every header version
        at = 10 + max(n, 0)
        self.flexible = self.api_key == SASL_AUTHENTICATE and self.version >= 2
        if self.flexible:
            tags, at = _uvarint(frame, at)
            for _ in range(tags):
                _, at = _uvarint(frame, at)
                size, at = _uvarint(frame, at)
                at += size
        self.body = at

    def auth_bytes(self) -> bytes:
        if self.flexible:
            size, at = _uvarint(self.frame, self.body)
            return self.frame[at:at + size - 1]
        size = struct.unpack(">i", self.frame[self.body:self.body + 4])[0]
        return self.frame[self.body + 4:self.body + 4 + size]

    def mechanism(self) -> str:
        size = struct.unpack(">h", self.frame[self.body:self.body + 2])[0]
        return self.frame[self.body + 2:self.body + 2 + size].decode()


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def handshake_response(req: Request, error: int) -> bytes:
    mechs = b"".join(struct.pack(">h", len(m)) + m.encode() for m in MECHANISMS)
    return _frame(struct.pack(">ihi", req.correlation_id, error, len(MECHANISMS)) + mechs)


def authenticate_response(req: Request, error: int, message: str | None, data: bytes) -> bytes:
    if req.flexible:
        msg = _put_uvarint(0) if message is None else _put_uvarint(len(message.encode()) + 1) + message.encode()
        body = (struct.pack(">h", error) + msg + _put_uvarint(len(data) + 1) + data
                + struct.pack(">q", 0) + b"\x00")
        return _frame(struct.pack(">i", req.correlation_id) + b"\x00" + body)
    msg = struct.pack(">h", -1) if message is None else struct.pack(">h", len(message.encode())) + message.encode()
    body = struct.pack(">h", error) + msg + struct.pack(">i", len(data)) + data
    if req.version >= 1:
        body += struct.pack(">q", 0)  # session lifetime: no re-authentication
    return _frame(struct.pack(">i", req.correlation_id) + body)


class Authenticator:
    """The broker's side of one connection's SASL exchange."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.mechanism: str | None = None
        self.scram: scramp.ScramServer | None = None
        self.done = False

    def step(self, token: bytes) -> tuple[bool, bytes, str | None]:
        """(ok, reply token, error message) for a client token; done is set once authenticated."""
        if self.mechanism == "PLAIN":
            _, user, password = token.decode().split("\x00")
            ok = self.users.get(user) == password
            self.done = ok
            return ok, b"", None if ok else f"wrong user name or password for {user!r}"
        try:
            if self.scram is None:
                mech = scramp.ScramMechanism(self.mechanism)
                infos = {u: mech.make_auth_info(p) for u, p in self.users.items()}
                self.scram = mech.make_server(lambda user: infos[user])
                self.scram.set_client_first(token.decode())
                return True, self.scram.get_server_first().encode(), None
            self.scram.set_client_final(token.decode())
            self.done = True
            return True, self.scram.get_server_final().encode(), None
        except (scramp.ScramException, KeyError) as exc:
            return False, b"", f"SCRAM authentication failed: {exc}"


class SaslProxy:
    """Listens on 127.0.0.1:`port`; forwards authenticated connections to `upstream` (host:port)."""

    def __init__(self, port: int, upstream: str, users: dict[str, str]) -> None:
        self.port, self.users = port, users
        self.upstream_host, _, up_port = upstream.rpartition(":")
        self.upstream_port = int(up_port)
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> SaslProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            writer.close()
            return
        try:
            if await self._authenticate(reader, writer, up_reader, up_writer):
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            up_writer.close()

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> bool:
        auth = Authenticator(self.users)
        while not auth.done:
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            req = Request(await reader.readexactly(size))
            if req.api_key == API_VERSIONS:  # the broker's own answer
                up_writer.write(_frame(req.frame))
                n = struct.unpack(">i", await up_reader.readexactly(4))[0]
                writer.write(_frame(await up_reader.readexactly(n)))
            elif req.api_key == SASL_HANDSHAKE:
                auth.mechanism = req.mechanism()
                known = auth.mechanism in MECHANISMS
                writer.write(handshake_response(req, 0 if known else UNSUPPORTED_SASL_MECHANISM))
                if not known:
                    return False
                if req.version == 0:  # v0: the tokens follow as bare frames
                    return await self._raw_tokens(auth, reader, writer)
            elif req.api_key == SASL_AUTHENTICATE and auth.mechanism:
                ok, reply, message = auth.step(req.auth_bytes())
                writer.write(authenticate_response(req, 0 if ok else SASL_AUTHENTICATION_FAILED, message, reply))
                if not ok:
                    self.refused += 1
                    await writer.drain()
                    return False
            else:  # anything else before authenticating: a broker closes the connection
                return False
            await writer.drain()
        return True

    async def _raw_tokens(self, auth: Authenticator, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> bool:
        while not auth.done:
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            ok, reply, _ = auth.step(await reader.readexactly(size))
            if not ok:
                self.refused += 1
                return False
            writer.write(_frame(reply))
            await writer.drain()
        return True


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while data := await src.read(65536):
        dst.write(data)
        await dst.drain()
    dst.close()
