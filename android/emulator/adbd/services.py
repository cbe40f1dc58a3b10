"""Which service an OPEN names: shell (raw and v2), exec (raw shell without a terminal, for
`adb exec-out`), sync, and the few a stock adbd on a production build answers with a message (`root:`).
Anything else is refused with CLSE, as adbd does for a service it does not know."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from android.emulator.adbd.shell_service import refuse_shell, serve_shell
from android.emulator.adbd.stream import Stream
from android.emulator.adbd.sync import SyncService

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

Handler = Callable[[Stream], None]
MESSAGES = {
    "root:": "adbd cannot run as root in production builds\n",
    "unroot:": "adbd not running as root\n",
    "remount:": "remount is not supported on the virtual phone\n",
    "disable-verity:": "verity cannot be disabled/enabled - USER build\n",
    "enable-verity:": "verity cannot be disabled/enabled - USER build\n",
}


class Services:
    def __init__(self, phone: VirtualPhone):
        self.phone = phone

    def find(self, name: str) -> Handler | None:
        """The handler for an OPEN'd service name, or None when the phone does not offer it."""
        phone = self.phone
        if name == "shell" or name.startswith(("shell:", "shell,")):
            return lambda stream: serve_shell(phone, stream)
        if name.startswith("exec:"):
            return lambda stream: serve_shell(phone, _as_raw_shell(stream))
        if name == "sync:":
            return lambda stream: SyncService(phone, stream).serve()
        if name in MESSAGES:
            return lambda stream: stream.write(MESSAGES[name].encode())
        return None

    def refusal(self, name: str, message: str) -> Handler:
        """A handler that tells the client, in the service's own framing, that the phone refused it."""
        if name == "sync:":
            return lambda stream: SyncService(self.phone, stream).fail(message)
        if name.startswith(("shell", "exec:")):
            return lambda stream: refuse_shell(stream, message)
        return lambda stream: stream.write(f"{message}\n".encode())


def _as_raw_shell(stream: Stream) -> Stream:
    stream.service = "shell,raw:" + stream.service.partition(":")[2]
    return stream
