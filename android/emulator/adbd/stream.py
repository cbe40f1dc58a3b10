"""One ADB stream (an OPENed service) on a connection: inbound bytes for the service to read, and
outbound bytes sent as WRTE packets, both with the protocol's flow control.

Outbound: one WRTE in flight until the peer's OKAY; writes are queued (up to HIGH_WATER, then the writer
waits) and coalesced, so a service printing many small pieces does not pay one round trip per piece.
Inbound: the peer's WRTE is acknowledged (OKAY) only once the service has read all of it, as adbd does,
so a client pouring data into a command that does not read (`adb shell sleep 600 < /dev/zero`) waits
instead of growing the daemon's memory. A client that sends more while unacknowledged data passes
MAX_UNACKED_BYTES is breaking the protocol: its connection is closed."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from android.emulator.adbd.packet import A_CLSE, A_OKAY, A_WRTE, MAX_PAYLOAD_ACCEPTED, Packet, PacketError
from android.emulator.shell.streams import QueueSource

if TYPE_CHECKING:
    from android.emulator.adbd.connection import Connection

HIGH_WATER = 1024 * 1024  # a writer waits while this much is queued for the peer
MAX_UNACKED_BYTES = MAX_PAYLOAD_ACCEPTED  # inbound data the service has not read: one packet


class StreamClosed(EOFError):
    """The peer closed the stream (or the connection dropped)."""


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int, service: str):
        self.conn, self.local_id, self.remote_id, self.service = conn, local_id, remote_id, service
        self.inbound = QueueSource(on_drained=self._acknowledge)
        self.closed = threading.Event()  # set when either side has closed
        self._unacked = False  # a WRTE from the peer waits for its OKAY until the service has read it
        self._ack_lock = threading.Lock()
        self._out = bytearray()
        self._in_flight = False
        self._cond = threading.Condition()
        self._sent_close = False

    # --- the service's side -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue bytes for the peer; raises StreamClosed once the stream is closed."""
        for start in range(0, len(data), HIGH_WATER):
            piece = data[start : start + HIGH_WATER]
            with self._cond:
                while len(self._out) >= HIGH_WATER and not self.closed.is_set():
                    self._cond.wait(0.5)
                if self.closed.is_set():
                    raise StreamClosed(self.service)
                self._out += piece
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

    def abort(self) -> None:
        """CLSE now, whatever is still in flight (a refused stream)."""
        self._send_close()
        self._shut()

    # --- the connection's side ---------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        """The peer's WRTE: queued for the service, acknowledged once read (PacketError if the peer
        ignores flow control past MAX_UNACKED_BYTES)."""
        if not data:
            self.conn.send(Packet(A_OKAY, self.local_id, self.remote_id))
            return
        with self._ack_lock:
            if self._unacked and self.inbound.queued_bytes + len(data) > MAX_UNACKED_BYTES:
                raise PacketError(
                    f"stream {self.service!r}: WRTE while {self.inbound.queued_bytes} bytes are unacknowledged "
                    "(the client ignores flow control)"
                )
            self._unacked = True
        self.inbound.feed(data)

    def _acknowledge(self) -> None:
        """The service has read everything the peer sent: OKAY, so the peer may send more."""
        with self._ack_lock:
            if not self._unacked or self.closed.is_set():
                return
            self._unacked = False
        try:
            self.conn.send(Packet(A_OKAY, self.local_id, self.remote_id))
        except OSError:
            pass

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
