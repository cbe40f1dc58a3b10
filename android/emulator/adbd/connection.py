"""One client connection to the virtual phone's adbd: the CNXN handshake (optionally an AUTH exchange
that never succeeds, to stand for an unauthorized phone), then OPEN/WRTE/OKAY/CLSE dispatch to streams,
each service running in its own thread. A malformed packet ends this connection only."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

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
AUTH_TOKEN, AUTH_SIGNATURE = 1, 2  # (3, RSAPUBLICKEY: a key offered for the user to accept)
TOKEN_BYTES = 20


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

    # --- sending --------------------------------------------------------------------------------
    def send(self, packet: Packet) -> None:
        data = packet.encode(with_checksum=self.version < A_VERSION_SKIP_CHECKSUM)
        with self._send_lock:
            self.sock.sendall(data)

    def forget(self, stream: Stream) -> None:
        with self._streams_lock:
            if self._streams.get(stream.local_id) is stream:
                del self._streams[stream.local_id]

    # --- the reader loop ------------------------------------------------------------------------
    def serve(self) -> None:
        try:
            while True:
                packet = read_packet(self.sock, verify_checksum=self.version < A_VERSION_SKIP_CHECKSUM)
                self._dispatch(packet)
        except PacketError as exc:
            log.warning("closing the connection from %s: %s", self.peer, exc)
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
                stream.on_write(packet.data)
                self.send(Packet(A_OKAY, stream.local_id, packet.arg0))
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
        if self.server.reject_auth:
            self.online = False
            self.send(Packet(A_AUTH, AUTH_TOKEN, 0, os.urandom(TOKEN_BYTES)))
            return
        self.online = True
        self.send(Packet(A_CNXN, self.version, MAX_PAYLOAD, self.server.banner().encode()))

    def _on_auth(self, packet: Packet) -> None:
        """An unauthorized phone: every signature is refused with a new token, and the public key the
        host then offers waits forever for a user who never taps 'Allow'."""
        if self.server.reject_auth and packet.arg0 == AUTH_SIGNATURE:
            self.send(Packet(A_AUTH, AUTH_TOKEN, 0, os.urandom(TOKEN_BYTES)))

    def _on_open(self, packet: Packet) -> None:
        name = packet.data.split(b"\0", 1)[0].decode(errors="replace")
        remote_id = packet.arg0
        handler = self.server.services.find(name)
        if handler is None:
            log.info("refused unknown service %r from %s", name, self.peer)
            self.send(Packet(A_CLSE, 0, remote_id))
            return
        stream = Stream(self, next(self._ids), remote_id, name)
        with self._streams_lock:
            self._streams[stream.local_id] = stream
        self.send(Packet(A_OKAY, stream.local_id, remote_id))
        threading.Thread(
            target=self._run_service, args=(handler, stream), name=f"adbd-{name[:20]}", daemon=True
        ).start()

    def _run_service(self, handler, stream: Stream) -> None:
        try:
            handler(stream)
        except EOFError:
            pass
        except Exception:  # a broken service must not take the phone down
            log.exception("service %r failed", stream.service)
        finally:
            stream.close()
