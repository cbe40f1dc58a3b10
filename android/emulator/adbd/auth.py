"""ADB's RSA authentication, as adbd checks it: the phone sends a random token, the host signs it with its
private key (~/.android/adbkey), and the phone accepts the connection if the signature verifies with one
of the public keys it trusts (adbkey.pub lines, the format of /data/misc/adb/adb_keys).

A public key line is `BASE64 user@host`, where BASE64 encodes Android's RSAPublicKey struct: u32 number of
32-bit words in the modulus, u32 n0inv (Montgomery constant, unused here), the modulus and R^2 mod n as
little-endian words, and u32 public exponent. The signature is PKCS#1 v1.5 with the SHA-1 DigestInfo over
the 20-byte token taken as the digest (OpenSSL's RSA_sign(NID_sha1, token)), so checking it needs only
modular exponentiation: standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path

from android.errors import UsageError

SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
TOKEN_BYTES = 20


@dataclass(frozen=True)
class AdbPublicKey:
    modulus: int
    exponent: int
    comment: str

    @property
    def size_bytes(self) -> int:
        return (self.modulus.bit_length() + 7) // 8

    def verifies(self, token: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's PKCS#1 v1.5 SHA-1 signature of `token`."""
        size = self.size_bytes
        if len(signature) != size or len(token) != TOKEN_BYTES:
            return False
        value = int.from_bytes(signature, "big")
        if value >= self.modulus:
            return False
        message = pow(value, self.exponent, self.modulus).to_bytes(size, "big")
        padding = size - 3 - len(SHA1_DIGEST_INFO) - TOKEN_BYTES
        expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + SHA1_DIGEST_INFO + token
        return padding >= 8 and hmac.compare_digest(message, expected)


def parse_public_key(line: str) -> AdbPublicKey:
    """One adbkey.pub line; ValueError naming what is wrong."""
    encoded, _, comment = line.strip().partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(blob) < 8:
        raise ValueError("too short for an RSA public key")
    words = struct.unpack_from("<I", blob, 0)[0]
    if not 16 <= words <= 256 or len(blob) != 4 + 4 + 8 * words + 4:
        raise ValueError(f"not Android's RSAPublicKey layout ({len(blob)} bytes, {words} words)")
    modulus = int.from_bytes(blob[8 : 8 + 4 * words], "little")
    exponent = struct.unpack_from("<I", blob, 8 + 8 * words)[0]
    if exponent < 3 or modulus.bit_length() < 512:
        raise ValueError("exponent or modulus out of range")
    return AdbPublicKey(modulus, exponent, comment.strip())


def load_public_keys(path: str | Path) -> tuple[AdbPublicKey, ...]:
    """Every key in an adbkey.pub (or adb_keys) file; UsageError naming the file and the bad line."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UsageError(f"--auth {path}: cannot read it ({exc.strerror or exc})") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                keys.append(parse_public_key(line))
            except ValueError as exc:
                raise UsageError(
                    f"--auth {path}: line {number} is not an adb public key ({exc}); give the adb client's "
                    "~/.android/adbkey.pub"
                ) from None
    if not keys:
        raise UsageError(f"--auth {path}: no public key in it; give the adb client's ~/.android/adbkey.pub")
    return tuple(keys)
