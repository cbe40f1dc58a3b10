"""One client connection to the virtual phone's adbd: the CNXN handshake (with adbd's RSA AUTH exchange
when the server has keys: a signature that verifies with one of them lets the host in; with an empty key
list nothing does, which stands for an unauthorized phone), then OPEN/WRTE/OKAY/CLSE dispatch to streams,
each service running in its own thread. A malformed packet ends this connection only.

Limits: the handshake must finish within `AdbLimits.handshake_timeout_s`; at most `max_streams` streams
are open at once (one more is answered with a message saying so, then closed)."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from android.emulator.adbd.auth import TOKEN_BYTES
from android.emulator.adbd.packet import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_VERSION,
    A_VERSION_MIN,
    A_VERSION_SKIP_CHECKSUM,
    A_WRTE,
    MAX_PAYLOAD,
    Packet,
    PacketError,
    read_packet,
)
from android.emulator.adbd.stream import Stream

if TYPE_CHECKING:
    from android.emulator.adbd.server import AdbServer

log = logging.getLogger("fusegov.adbd")
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3


class Connection:
    def __init__(self, server: AdbServer, sock: socket.socket, peer: str):
        self.server, self.sock, self.peer = server, sock, peer
        self.version = A_VERSION_MIN
        self.max_payload = 4096
        self.online = False
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._token = b""  # the AUTH token the host must sign
        self.created = time.monotonic()

    # --- sending --------------------------------------------------------------------------------
    def send(self, packet: Packet) -> None:
        data = packet.encode(with_checksum=self.version < A_VERSION_SKIP_CHECKSUM)
        with self._send_lock:
            self.sock.sendall(data)

    def stream_count(self) -> int:
        with self._streams_lock:
            return len(self._streams)

    def forget(self, stream: Stream) -> None:
        with self._streams_lock:
            if self._streams.get(stream.local_id) is stream:
                del self._streams[stream.local_id]

    # --- the reader loop ------------------------------------------------------------------------
    def serve(self) -> None:
        self.sock.settimeout(self.server.limits.handshake_timeout_s)  # until CNXN (and AUTH) complete
        try:
            while True:
                packet = read_packet(self.sock, verify_checksum=self.version < A_VERSION_SKIP_CHECKSUM)
                self._dispatch(packet)
        except PacketError as exc:
            log.warning("closing the connection from %s: %s", self.peer, exc)
        except TimeoutError:
            log.info(
                "closing the connection from %s: no handshake within %.0f s",
                self.peer,
                self.server.limits.handshake_timeout_s,
            )
        except (EOFError, OSError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        with self._streams_lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            stream.closed.set()
            stream.inbound.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.server.connection_closed(self)

    def _dispatch(self, packet: Packet) -> None:
        command = packet.command
        if command == A_CNXN:
            self._on_connect(packet)
        elif command == A_AUTH:
            self._on_auth(packet)
        elif not self.online:
            log.debug("adbd: %s before CNXN from %s ignored", packet.name, self.peer)
        elif command == A_OPEN:
            self._on_open(packet)
        elif command == A_WRTE:
            stream = self._stream(packet.arg1)
            if stream is not None:
                stream.on_write(packet.data)  # acknowledged (OKAY) once the service has read it
        elif command == A_OKAY:
            stream = self._stream(packet.arg1)
            if stream is not None:
                stream.on_okay()
        elif command == A_CLSE:
            stream = self._stream(packet.arg1)
            if stream is not None:
                stream.on_close()
        else:
            log.debug("adbd: ignoring %s from %s", packet.name, self.peer)

    def _stream(self, local_id: int) -> Stream | None:
        with self._streams_lock:
            return self._streams.get(local_id)

    # --- handshake ------------------------------------------------------------------------------
    def _on_connect(self, packet: Packet) -> None:
        if packet.arg0 < A_VERSION_MIN:
            raise PacketError(f"CNXN with unsupported version 0x{packet.arg0:08x}")
        self.version = min(packet.arg0, A_VERSION)
        self.max_payload = max(256, min(packet.arg1, MAX_PAYLOAD))
        if self.server.auth_keys is not None:
            self.online = False
            self._send_token()
            return
        self._go_online()

    def _go_online(self) -> None:
        self.online = True
        self.sock.settimeout(None)
        self.send(Packet(A_CNXN, self.version, MAX_PAYLOAD, self.server.banner().encode()))

    def _send_token(self) -> None:
        self._token = os.urandom(TOKEN_BYTES)
        self.send(Packet(A_AUTH, AUTH_TOKEN, 0, self._token))

    def _on_auth(self, packet: Packet) -> None:
        """A signature of our token that verifies with a trusted key lets the host in; any other gets a new
        token (the host then tries its next key, then offers its public key, which waits forever for a
        user who never taps 'Allow': adb lists the phone as unauthorized)."""
        if self.online or self.server.auth_keys is None or packet.arg0 != AUTH_SIGNATURE:
            if packet.arg0 == AUTH_RSAPUBLICKEY:
                log.info("host %s offered a public key that is not trusted (--auth)", self.peer)
            return
        token, self._token = self._token, b""
        if token and any(key.verifies(token, packet.data) for key in self.server.auth_keys):
            log.info("host %s authenticated", self.peer)
            self._go_online()
        else:
            self._send_token()

    def _on_open(self, packet: Packet) -> None:
        name = packet.data.split(b"\0", 1)[0].decode(errors="replace")
        remote_id = packet.arg0
        handler = self.server.services.find(name)
        if handler is None:
            log.info("refused unknown service %r from %s", name, self.peer)
            self.send(Packet(A_CLSE, 0, remote_id))
            return
        stream = Stream(self, next(self._ids), remote_id, name)
        limit = self.server.limits.max_streams
        with self._streams_lock:
            full = len(self._streams) >= limit
            if not full:
                self._streams[stream.local_id] = stream
        self.send(Packet(A_OKAY, stream.local_id, remote_id))
        if full:  # answered here and now, with no thread and no waiting for the client's OKAY
            log.warning("refused %r from %s: %d streams open on its connection (the limit)", name, self.peer, limit)
            message = f"fusegov emulate: refused: {limit} streams are open on this connection (--max-streams)"
            self.server.services.refusal(name, message)(stream)
            stream.abort()
            return
        try:
            threading.Thread(
                target=self._run_service, args=(handler, stream), name=f"adbd-{name[:20]}", daemon=True
            ).start()
        except RuntimeError:  # the host cannot start another thread
            log.warning("refused %r from %s: no thread available", name, self.peer)
            stream.on_close()

    def _run_service(self, handler, stream: Stream) -> None:
        try:
            handler(stream)
        except EOFError:
            pass
        except Exception:  # a broken service must not take the phone down
            log.exception("service %r failed", stream.service)
        finally:
            stream.close()
