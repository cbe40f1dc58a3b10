"""The virtual phone's adbd on loopback TCP: accepts connections (one reader thread each, one thread per
stream), answers like a phone reachable with `adb connect HOST:PORT`."""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from android.emulator.adbd.connection import Connection
from android.emulator.adbd.services import Services

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

log = logging.getLogger("fusegov.adbd")
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp")


class AdbServer:
    """Serve `phone` as an adbd on host:port (port 0 picks a free one). `reject_auth` makes the phone
    ask for authentication and never grant it: the host then lists it as 'unauthorized'."""

    def __init__(self, phone: VirtualPhone, host: str = "127.0.0.1", port: int = 0, reject_auth: bool = False):
        self.phone = phone
        self.reject_auth = reject_auth
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

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock, f"{addr[0]}:{addr[1]}")
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=conn.serve, name=f"adbd-conn-{addr[1]}", daemon=True).start()
