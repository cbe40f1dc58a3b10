"""ADB device-transport packets: a 24-byte little-endian header {command, arg0, arg1, data_length,
data_crc32 (really a byte sum), magic = command ^ 0xffffffff} and its payload (REFERENCES.md 6)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import numpy as np

HEADER = struct.Struct("<6I")
A_CNXN, A_AUTH, A_OPEN, A_OKAY = 0x4E584E43, 0x48545541, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_SYNC, A_STLS = 0x45534C43, 0x45545257, 0x434E5953, 0x534C5453
COMMAND_NAMES = {
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_SYNC: "SYNC",
    A_STLS: "STLS",
}
A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001  # from this version on, data_crc32 is 0 and not checked
A_VERSION = A_VERSION_SKIP_CHECKSUM
MAX_PAYLOAD = 256 * 1024
MAX_PAYLOAD_ACCEPTED = 1024 * 1024  # what a host may send us (adb itself offers 1 MiB)


class PacketError(Exception):
    """The byte stream is not ADB (bad magic, too long, bad checksum): the connection must end."""


@dataclass(frozen=True)
class Packet:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")

    def encode(self, with_checksum: bool = True) -> bytes:
        crc = checksum(self.data) if with_checksum else 0
        return (
            HEADER.pack(self.command, self.arg0, self.arg1, len(self.data), crc, self.command ^ 0xFFFFFFFF) + self.data
        )

    def __repr__(self) -> str:
        shown = self.data[:40]
        return f"Packet({self.name}, {self.arg0}, {self.arg1}, {shown!r}{'...' if len(self.data) > 40 else ''})"


def checksum(data: bytes) -> int:
    """The ADB 'crc32': the sum of the payload's bytes, modulo 2**32."""
    if len(data) < 256:
        return sum(data) & 0xFFFFFFFF
    return int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF


def read_exact(sock: socket.socket, n: int) -> bytes:
    """n bytes from the socket; EOFError if the peer closes first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def read_packet(sock: socket.socket, verify_checksum: bool) -> Packet:
    """One packet; PacketError for a malformed header, an oversized payload or a bad checksum."""
    command, arg0, arg1, length, crc, magic = HEADER.unpack(read_exact(sock, HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise PacketError(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    if length > MAX_PAYLOAD_ACCEPTED:
        raise PacketError(f"payload of {length} bytes is over the {MAX_PAYLOAD_ACCEPTED} limit")
    data = read_exact(sock, length) if length else b""
    if verify_checksum and checksum(data) != crc:
        raise PacketError(
            f"bad checksum {crc} for {COMMAND_NAMES.get(command, hex(command))} (payload sums to {checksum(data)})"
        )
    return Packet(command, arg0, arg1, data)
