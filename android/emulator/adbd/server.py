"""The virtual phone's adbd on TCP (loopback unless told otherwise): accepts connections (one reader thread
each, one thread per stream), answers like a phone reachable with `adb connect HOST:PORT`.

Limits (AdbLimits, `fusegov emulate` options): connections open at once (at the cap a new client gets the
place of an idle one: one still in its handshake, else the newest with no stream open; only when every
connection is busy is the new one closed, and logged), streams per connection, the time a connection has
to finish its handshake. With them, a flow-
controlled stream (stream.py) and the phone's storage size (vfs.py), what one client can make the daemon
hold is bounded: see the README's section on the virtual phone for the figures measured."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from android.emulator.adbd.connection import Connection
from android.emulator.adbd.services import Services

if TYPE_CHECKING:
    from android.emulator.adbd.auth import AdbPublicKey
    from android.emulator.phone import VirtualPhone

log = logging.getLogger("fusegov.adbd")
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp")


@dataclass(frozen=True)
class AdbLimits:
    max_connections: int = 16  # a client normally needs one (the adb server multiplexes over it)
    max_streams: int = 64  # per connection: shells, syncs and the like open at once
    handshake_timeout_s: float = 10.0  # to send CNXN (and sign the AUTH token)


class AdbServer:
    """Serve `phone` as an adbd on host:port (port 0 picks a free one).

    `auth_keys`: None lets every host in (no AUTH, as a phone that trusts this computer); a tuple of
    public keys makes the phone ask for the AUTH signature and accept only those keys (empty: nobody,
    and the host lists the phone as 'unauthorized')."""

    def __init__(
        self,
        phone: VirtualPhone,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_keys: tuple[AdbPublicKey, ...] | None = None,
        limits: AdbLimits = AdbLimits(),
    ):
        self.phone = phone
        self.auth_keys = auth_keys
        self.limits = limits
        self.services = Services(phone)
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="adbd-accept", daemon=True)

    @property
    def serial(self) -> str:
        """What `adb devices` will call this phone once connected."""
        return f"{self.host}:{self.port}"

    def banner(self) -> str:
        props = self.phone.props
        fields = ";".join(
            f"{key}={props.get(key, '')}" for key in ("ro.product.name", "ro.product.model", "ro.product.device")
        )
        return f"device::{fields};features={','.join(FEATURES)}"

    def start(self) -> AdbServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()

    def connection_closed(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _admit(self, sock: socket.socket, peer: str) -> Connection | None:
        """A Connection for the new socket, making room at the cap: first by closing the oldest connection
        still in its handshake, else the newest one with no stream open (a long-standing adb server
        connection outlives a flood of idle ones); None when every connection is busy."""
        with self._lock:
            if len(self._connections) < self.limits.max_connections:
                conn = Connection(self, sock, peer)
                self._connections.add(conn)
                return conn
            pending = [c for c in self._connections if not c.online]
            idle = [c for c in self._connections if c.online and not c.stream_count()]
            victim = (
                min(pending, key=lambda c: c.created)
                if pending
                else max(idle, key=lambda c: c.created)
                if idle
                else None
            )
            if victim is None:
                return None
            self._connections.discard(victim)
            conn = Connection(self, sock, peer)
            self._connections.add(conn)
        log.info("closed the idle connection from %s to let %s in (--max-connections)", victim.peer, peer)
        victim.close()
        return conn

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            peer = f"{addr[0]}:{addr[1]}"
            conn = self._admit(sock, peer)
            if conn is None:
                log.warning(
                    "refused the connection from %s: %d connections are open, all busy (--max-connections)",
                    peer,
                    self.limits.max_connections,
                )
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                threading.Thread(target=conn.serve, name=f"adbd-conn-{addr[1]}", daemon=True).start()
            except RuntimeError:
                log.warning("refused the connection from %s: no thread available", peer)
                conn.close()
