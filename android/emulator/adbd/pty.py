"""A minimal pseudo-terminal line discipline for `adb shell` run from a terminal: the client sends raw
keystrokes, so the phone echoes them, edits the line (backspace, Ctrl-U), turns Enter into a line,
Ctrl-C into SIGINT for the running command, Ctrl-D on an empty line into end of input, and writes
CR LF for every newline it prints."""

from __future__ import annotations

import threading
from collections.abc import Callable

from android.emulator.shell.streams import QueueSource, Sink, Source

CTRL_C, CTRL_D, CTRL_U, BACKSPACES, ESC = 0x03, 0x04, 0x15, (0x7F, 0x08), 0x1B
LINE_MAX = 4095  # N_TTY's line buffer: further characters of a line are dropped, as by a real terminal
LINES_BUFFER_BYTES = 64 * 1024  # finished lines the command has not read yet


class PtyOutput(Sink):
    def __init__(self, inner: Sink):
        self.inner = inner

    def write(self, data: bytes) -> None:
        self.inner.write(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


class PtyInput(Source):
    """Lines assembled from keystrokes by a reader thread, so Ctrl-C works while a command runs."""

    def __init__(self, raw: Source, echo: Sink, on_interrupt: Callable[[], None]):
        self.raw, self.echo, self.on_interrupt = raw, echo, on_interrupt
        self.lines = QueueSource(capacity=LINES_BUFFER_BYTES)
        threading.Thread(target=self._discipline, name="adbd-pty", daemon=True).start()

    def read(self, n: int = -1) -> bytes:
        return self.lines.read(n)

    def readline(self) -> bytes:
        return self.lines.readline()

    def _discipline(self) -> None:
        line = bytearray()
        skip_escape = 0
        try:
            while True:
                chunk = self.raw.read(4096)
                if not chunk:
                    break
                for byte in chunk:
                    if skip_escape:
                        skip_escape = skip_escape - 1 if byte != ord("[") else skip_escape
                        continue
                    if byte in (0x0D, 0x0A):
                        self.echo.write(b"\n")
                        self.lines.feed(bytes(line) + b"\n")
                        line.clear()
                    elif byte in BACKSPACES:
                        if line:
                            line.pop()
                            self.echo.write(b"\b \b")
                    elif byte == CTRL_U:
                        self.echo.write(b"\b \b" * len(line))
                        line.clear()
                    elif byte == CTRL_C:
                        self.echo.write(b"^C\n")
                        line.clear()
                        self.on_interrupt()
                    elif byte == CTRL_D:
                        if not line:
                            return
                    elif byte == ESC:
                        skip_escape = 1  # arrow keys and the like: ESC [ X
                    elif (byte >= 0x20 or byte == 0x09) and len(line) < LINE_MAX:
                        line.append(byte)
                        self.echo.write(bytes([byte]))
        finally:
            self.lines.close()
