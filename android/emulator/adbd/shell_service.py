"""`shell:` (raw: one byte stream, stderr mixed in, no exit code) and `shell,v2,...:` (framed stdin,
stdout, stderr and exit packets), with a command or, when the command is empty, an interactive shell
(with a pseudo-terminal's echo, line editing and prompt when the client asked for `pty`)."""

from __future__ import annotations

import signal
import struct
import threading
from typing import TYPE_CHECKING

from android.emulator.adbd.pty import PtyInput, PtyOutput
from android.emulator.adbd.stream import Stream
from android.emulator.shell.interp import Io, Session, end_session, new_session
from android.emulator.shell.procs import ProcessLimit
from android.emulator.shell.streams import CallbackSink, QueueSource, Sink, Source
from android.emulator.vfs import SHELL_UID

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN = 0, 1, 2, 3, 4  # (5: window size, ignored)
STDIN_BUFFER_BYTES = 64 * 1024  # a command's unread stdin (like a pipe's buffer); the client then waits
V2_HEADER = struct.Struct("<BI")


def parse_shell_service(name: str) -> tuple[bool, bool, str]:
    """'shell,v2,TERM=xterm,pty:ls' -> (v2, pty, command)."""
    head, _, command = name.partition(":")
    args = head.split(",")[1:]
    v2 = "v2" in args
    pty = "pty" in args or (not command and "raw" not in args)
    return v2, pty, command


def refuse_shell(stream: Stream, message: str, status: int = 1) -> None:
    """Tell a shell client the phone refused to start its command (on stderr, with an exit status)."""
    v2, _, _ = parse_shell_service(stream.service)
    text = f"{message}\n".encode()
    if v2:
        stream.write(V2_HEADER.pack(ID_STDERR, len(text)) + text + V2_HEADER.pack(ID_EXIT, 1) + bytes([status]))
    else:
        stream.write(text)


def serve_shell(phone: VirtualPhone, stream: Stream) -> None:
    v2, pty, command = parse_shell_service(stream.service)
    try:
        session = new_session(phone, SHELL_UID)
    except ProcessLimit as exc:
        refuse_shell(stream, f"/system/bin/sh: can't fork: {exc}")
        return
    stdin: Source = stream.inbound
    if v2:
        stdin = QueueSource(capacity=STDIN_BUFFER_BYTES)
        threading.Thread(target=_unframe_stdin, args=(stream, stdin), daemon=True).start()
        stdout: Sink = CallbackSink(lambda data: stream.write(V2_HEADER.pack(ID_STDOUT, len(data)) + data))
        stderr: Sink = CallbackSink(lambda data: stream.write(V2_HEADER.pack(ID_STDERR, len(data)) + data))
    else:
        stdout = stderr = CallbackSink(stream.write)
    if pty:
        stdout = PtyOutput(stdout)
        stderr = stdout if not v2 else PtyOutput(stderr)
        stdin = PtyInput(stdin, stdout, on_interrupt=lambda: _interrupt(session))
    watcher = threading.Thread(target=_hang_up_on_close, args=(stream, session), daemon=True)
    watcher.start()
    io = Io(stdin, stdout, stderr)
    status = 1
    try:
        if command:
            status = session.run(command, io)
        else:
            status = session.interact(io, prompt=(lambda: _prompt(phone, session)) if pty else None)
    finally:
        end_session(session, status)
    if v2:
        try:
            stream.write(V2_HEADER.pack(ID_EXIT, 1) + bytes([status & 0xFF]))
        except EOFError:
            pass


def _prompt(phone: VirtualPhone, session: Session) -> str:
    return f"{phone.props.get('ro.product.device', 'android')}:{session.cwd} {'#' if session.uid == 0 else '$'} "


def _interrupt(session: Session) -> None:
    """Ctrl-C at the terminal: the running command gets SIGINT (the session then reads on)."""
    session.proc.signal_no = signal.SIGINT
    session.cancel.set()


def _hang_up_on_close(stream: Stream, session: Session) -> None:
    """The client went away: the shell gets SIGHUP, as when a terminal closes."""
    stream.closed.wait()
    if session.proc.exit_code is None:
        session.proc.signal_no = signal.SIGHUP
        session.cancel.set()


def _unframe_stdin(stream: Stream, stdin: QueueSource) -> None:
    """shell v2 client -> device packets: stdin data, close-stdin, window-size changes."""
    try:
        while True:
            kind, length = V2_HEADER.unpack(stream.read_exact(V2_HEADER.size))
            data = stream.read_exact(length) if length else b""
            if kind == ID_STDIN:
                stdin.feed(data)
            elif kind == ID_CLOSE_STDIN:
                break
    except EOFError:
        pass
    finally:
        stdin.close()
