"""One ADB stream (an OPENed service) on a connection: inbound bytes for the service to read, and
outbound bytes sent as WRTE packets with the protocol's flow control (one WRTE in flight until the
peer's OKAY). Writes are queued and coalesced, so a service printing many small pieces does not pay
one round trip per piece."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from android.emulator.adbd.packet import A_CLSE, A_WRTE, Packet
from android.emulator.shell.streams import QueueSource

if TYPE_CHECKING:
    from android.emulator.adbd.connection import Connection

HIGH_WATER = 4 * 1024 * 1024  # a writer waits while this much is queued


class StreamClosed(EOFError):
    """The peer closed the stream (or the connection dropped)."""


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int, service: str):
        self.conn, self.local_id, self.remote_id, self.service = conn, local_id, remote_id, service
        self.inbound = QueueSource()
        self.closed = threading.Event()  # set when either side has closed
        self._out = bytearray()
        self._in_flight = False
        self._cond = threading.Condition()
        self._sent_close = False

    # --- the service's side -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes for the peer; raises StreamClosed once the stream is closed."""
        if not data:
            return
        with self._cond:
            while len(self._out) > HIGH_WATER and not self.closed.is_set():
                self._cond.wait(0.5)
            if self.closed.is_set():
                raise StreamClosed(self.service)
            self._out += data
            self._pump()

    def read_exact(self, n: int) -> bytes:
        """Exactly n inbound bytes; StreamClosed if the stream ends first."""
        buf = bytearray()
        while len(buf) < n:
            chunk = self.inbound.read(n - len(buf))
            if not chunk:
                raise StreamClosed(self.service)
            buf += chunk
        return bytes(buf)

    def close(self, drain_timeout_s: float = 30.0) -> None:
        """Send what is queued, then CLSE (once)."""
        with self._cond:
            self._cond.wait_for(
                lambda: self.closed.is_set() or (not self._out and not self._in_flight), drain_timeout_s
            )
        self._send_close()
        self._shut()

    # --- the connection's side ---------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        self.inbound.feed(data)

    def on_okay(self) -> None:
        with self._cond:
            self._in_flight = False
            self._pump()
            self._cond.notify_all()

    def on_close(self) -> None:
        """The peer closed: answer with our CLSE (clients wait for it) and end the service's I/O."""
        self._send_close()
        self._shut()

    def _shut(self) -> None:
        with self._cond:
            self.closed.set()
            self._out.clear()
            self._cond.notify_all()
        self.inbound.close()
        self.conn.forget(self)

    def _pump(self) -> None:
        """Send the next WRTE if none is in flight (caller holds _cond)."""
        if self._in_flight or not self._out or self.closed.is_set():
            return
        chunk = bytes(self._out[: self.conn.max_payload])
        del self._out[: len(chunk)]
        self._in_flight = True
        try:
            self.conn.send(Packet(A_WRTE, self.local_id, self.remote_id, chunk))
        except OSError:
            self.closed.set()
            self._cond.notify_all()

    def _send_close(self) -> None:
        with self._cond:
            if self._sent_close:
                return
            self._sent_close = True
        try:
            self.conn.send(Packet(A_CLSE, self.local_id, self.remote_id))
        except OSError:
            pass
