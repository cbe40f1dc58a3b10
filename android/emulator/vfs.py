"""An in-memory file tree with kernel-like semantics: attributes backed by callbacks, plain files,
directories and symlinks, owner/mode checks, and errno-style errors the shell and ADB layers map.

Plain files share one storage size, like a phone's /data partition (which /sdcard lives on too): a write
that would take the files past `capacity_bytes` fails with ENOSPC (NoSpaceError), whether it comes from
`adb push`, a shell redirection or a script. The files live in the emulator's memory, so the capacity is
also what a client can make the emulator hold."""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from android.errors import DeviceError, DevicePathError, DevicePermissionError

ROOT_UID = 0
SHELL_UID = 2000
DEFAULT_CAPACITY_BYTES = 256 * 1024 * 1024  # the phone's writable storage (fusegov emulate --storage)


class IsADirectoryError_(DeviceError):
    pass


class NoSpaceError(DeviceError):
    """The phone's storage is full (ENOSPC)."""

    def __init__(self, device: str, path: str, capacity_bytes: int):
        super().__init__(f"{device}: {path}: no space left on device ({capacity_bytes // 1024 // 1024} MiB storage)")
        self.device, self.path = device, path


@dataclass
class Node:
    mode: int
    uid: int = ROOT_UID
    mtime: float = field(default_factory=time.time)


@dataclass
class Dir(Node):
    children: dict[str, Node] = field(default_factory=dict)


@dataclass
class File(Node):
    data: bytes = b""


@dataclass
class Attr(Node):
    """A sysfs attribute: read renders text from live state; write parses and applies (or raises)."""

    show: Callable[[], str] = lambda: ""
    store: Callable[[str], None] | None = None


@dataclass
class Symlink(Node):
    target: str = ""


class VirtualFS:
    """Paths are absolute POSIX paths. `uid` 0 is root; everyone else is the adb shell user."""

    def __init__(self, device_name: str, capacity_bytes: int = DEFAULT_CAPACITY_BYTES):
        self.device_name = device_name
        self.root = Dir(mode=0o755)
        self.lock = threading.RLock()
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0  # bytes in plain files

    def free_bytes(self) -> int:
        with self.lock:
            return max(self.capacity_bytes - self.used_bytes, 0)

    def _charge(self, path: str, delta: int) -> None:
        """Account for `delta` more bytes of file data; NoSpaceError (nothing changed) if it does not fit."""
        if delta > 0 and self.used_bytes + delta > self.capacity_bytes:
            raise NoSpaceError(self.device_name, path, self.capacity_bytes)
        self.used_bytes += delta

    # --- building -----------------------------------------------------------------------------
    def mkdir(self, path: str, mode: int = 0o755, uid: int = ROOT_UID) -> Dir:
        """Create a directory and its missing parents (parents are root's, 0755, as at boot)."""
        node: Dir = self.root
        parts = _parts(path)
        for i, part in enumerate(parts):
            child = node.children.get(part)
            if isinstance(child, Symlink):
                child = self._lookup(child.target, follow=True)
            if child is None:
                leaf = i == len(parts) - 1
                child = node.children[part] = Dir(mode=mode if leaf else 0o755, uid=uid if leaf else ROOT_UID)
            if not isinstance(child, Dir):
                raise DevicePathError(self.device_name, path, "not a directory")
            node = child
        return node

    def add(self, path: str, node: Node) -> Node:
        """Put a node (or a subtree being moved) at path; its files count against the storage."""
        parent, name = posixpath.split(path.rstrip("/"))
        with self.lock:
            self.mkdir(parent).children[name] = node
            self.used_bytes += _file_bytes(node)
        return node

    def attr(
        self, path: str, show: Callable[[], str], store: Callable[[str], None] | None = None, mode: int | None = None
    ) -> Attr:
        return self.add(
            path, Attr(mode=mode if mode is not None else (0o644 if store else 0o444), show=show, store=store)
        )  # type: ignore[return-value]

    def symlink(self, path: str, target: str) -> None:
        self.add(path, Symlink(mode=0o777, target=target))

    # --- lookup -------------------------------------------------------------------------------
    def _lookup(self, path: str, follow: bool = True, depth: int = 0) -> Node | None:
        if depth > 16:
            raise DevicePathError(self.device_name, path, "too many levels of symbolic links")
        parts = _parts(posixpath.normpath("/" + path))
        node: Node = self.root
        for i, part in enumerate(parts):
            if isinstance(node, Symlink):
                node = self._resolve(node, parts[: i - 1], depth)  # type: ignore[assignment]
            if not isinstance(node, Dir):
                return None
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        if follow and isinstance(node, Symlink):
            return self._resolve(node, parts[:-1], depth)
        return node

    def _resolve(self, link: Symlink, parent_parts: list[str], depth: int) -> Node | None:
        target = link.target if link.target.startswith("/") else "/".join(["", *parent_parts, link.target])
        return self._lookup(target, True, depth + 1)

    def node(self, path: str) -> Node:
        with self.lock:
            found = self._lookup(path)
        if found is None:
            raise DevicePathError(self.device_name, path)
        return found

    def exists(self, path: str) -> bool:
        with self.lock:
            return self._lookup(path) is not None

    def is_dir(self, path: str) -> bool:
        with self.lock:
            return isinstance(self._lookup(path), Dir)

    def listdir(self, path: str) -> list[str]:
        node = self.node(path)
        if not isinstance(node, Dir):
            raise DevicePathError(self.device_name, path, "not a directory")
        return sorted(node.children)

    # --- I/O ----------------------------------------------------------------------------------
    def read(self, path: str, uid: int = ROOT_UID) -> bytes:
        with self.lock:
            node = self.node(path)
            if isinstance(node, Dir):
                raise IsADirectoryError_(f"{self.device_name}: {path}: is a directory")
            if not self.may(node, uid, 0o4):
                raise DevicePermissionError(self.device_name, path)
            if isinstance(node, Attr):
                return node.show().encode()
            return node.data  # type: ignore[union-attr]

    def write(self, path: str, data: bytes, uid: int = ROOT_UID, append: bool = False) -> None:
        """Write like open(O_WRONLY|O_CREAT|O_TRUNC)+write: attributes parse, files store bytes."""
        with self.lock:
            node = self._lookup(path)
            if node is None:
                parent = self.check_create(path, uid)
                self._charge(path, len(data))
                parent.children[posixpath.basename(path.rstrip("/"))] = File(
                    mode=0o666 if uid else 0o644, uid=uid, data=bytes(data)
                )
                return
            if isinstance(node, Dir):
                raise IsADirectoryError_(f"{self.device_name}: {path}: is a directory")
            if isinstance(node, Attr):
                if not self.may(node, uid, 0o2):
                    raise DevicePermissionError(self.device_name, path)
                node.store(data.decode(errors="replace"))  # type: ignore[misc]
                return
            if not self.may(node, uid, 0o2):
                raise DevicePermissionError(self.device_name, path)
            assert isinstance(node, File)
            self._charge(path, len(data) if append else len(data) - len(node.data))
            node.data = (node.data + data) if append else bytes(data)
            node.mtime = time.time()

    def remove(self, path: str, uid: int = ROOT_UID) -> None:
        with self.lock:
            parent = self._lookup(posixpath.dirname(path.rstrip("/")) or "/")
            name = posixpath.basename(path.rstrip("/"))
            if not isinstance(parent, Dir) or name not in parent.children:
                raise DevicePathError(self.device_name, path)
            if not self.may(parent, uid, 0o2) or _is_sysfs(path):
                raise DevicePermissionError(self.device_name, path)
            self.used_bytes -= _file_bytes(parent.children.pop(name))

    def chmod(self, path: str, mode: int, uid: int = ROOT_UID) -> None:
        with self.lock:
            node = self.node(path)
            if uid not in (ROOT_UID, node.uid):
                raise DevicePermissionError(self.device_name, path, "operation not permitted")
            if not isinstance(node, Attr):
                node.mode = mode

    def check_create(self, path: str, uid: int) -> Dir:
        """The directory a new entry at `path` goes into, if `uid` may create it there (sysfs and
        procfs never allow creation); raises the error open(O_CREAT) or mkdir(2) would."""
        with self.lock:
            parent = self._lookup(posixpath.dirname(path.rstrip("/")) or "/")
            if not isinstance(parent, Dir):
                raise DevicePathError(self.device_name, path)
            if not self.may(parent, uid, 0o2) or _is_sysfs(path):
                raise DevicePermissionError(self.device_name, path)
            return parent

    @staticmethod
    def may(node: Node, uid: int, bit: int) -> bool:
        """Permission check for read (0o4), write (0o2) or execute (0o1); root passes everything
        except writing an attribute that has no store method."""
        if isinstance(node, Attr) and bit == 0o2 and node.store is None:
            return False
        if uid == ROOT_UID:
            return True
        if uid == node.uid:
            return bool(node.mode & (bit << 6))
        return bool(node.mode & bit)


def _file_bytes(node: Node) -> int:
    """Bytes of file data in a node and, for a directory, everything beneath it."""
    if isinstance(node, File):
        return len(node.data)
    if isinstance(node, Dir):
        return sum(_file_bytes(child) for child in node.children.values())
    return 0


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _is_sysfs(path: str) -> bool:
    return path.startswith(("/sys/", "/proc/"))
