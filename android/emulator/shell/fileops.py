"""File operations over the virtual phone's VirtualFS that the shell, `sync:` and pushed scripts share:
stat, mkdir, rename, and the errno each android.errors exception stands for."""

from __future__ import annotations

import errno
import posixpath
import stat as stat_mod
from dataclasses import dataclass

from android.emulator.vfs import ROOT_UID, Attr, Dir, File, IsADirectoryError_, NoSpaceError, Symlink, VirtualFS
from android.errors import DeviceError, DevicePathError, DevicePermissionError, InvalidValueError

SYSFS_ATTR_SIZE = 4096  # sysfs reports every attribute as 4096 bytes long


@dataclass(frozen=True)
class Stat:
    mode: int  # st_mode with file-type bits
    size: int
    mtime_s: float
    uid: int
    nlink: int = 1


def error_errno(exc: DeviceError) -> int:
    """The errno a kernel would have returned for this error."""
    if isinstance(exc, DevicePathError):
        return errno.ENOTDIR if "not a directory" in str(exc) else errno.ENOENT
    if isinstance(exc, DevicePermissionError):
        return errno.EPERM if "not permitted" in str(exc) else errno.EACCES
    if isinstance(exc, IsADirectoryError_):
        return errno.EISDIR
    if isinstance(exc, InvalidValueError):
        return errno.EINVAL
    if isinstance(exc, NoSpaceError):
        return errno.ENOSPC
    return errno.EIO


ERRNO_TEXT = {
    errno.ENOENT: "No such file or directory",
    errno.ENOTDIR: "Not a directory",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EISDIR: "Is a directory",
    errno.EINVAL: "Invalid argument",
    errno.EIO: "I/O error",
    errno.EEXIST: "File exists",
    errno.ENOTEMPTY: "Directory not empty",
    errno.ENOSPC: "No space left on device",
}


def error_text(exc: DeviceError) -> str:
    """The strerror text Android's tools print for this error."""
    return ERRNO_TEXT[error_errno(exc)]


def stat(fs: VirtualFS, path: str, follow: bool = True) -> Stat:
    """stat(2) of a path (lstat when follow is False); DevicePathError when missing."""
    with fs.lock:
        node = fs.node(path) if follow else _lnode(fs, path)
        if isinstance(node, Dir):
            return Stat(stat_mod.S_IFDIR | node.mode, SYSFS_ATTR_SIZE, node.mtime, node.uid, 2)
        if isinstance(node, Symlink):
            return Stat(stat_mod.S_IFLNK | 0o777, len(node.target), node.mtime, node.uid)
        if isinstance(node, Attr):
            return Stat(stat_mod.S_IFREG | node.mode, SYSFS_ATTR_SIZE, node.mtime, node.uid)
        assert isinstance(node, File)
        return Stat(stat_mod.S_IFREG | node.mode, len(node.data), node.mtime, node.uid)


def _lnode(fs: VirtualFS, path: str):
    parent, name = posixpath.split(posixpath.normpath(path))
    directory = fs.node(parent or "/")
    if not isinstance(directory, Dir) or name not in directory.children:
        if not name:
            return directory
        raise DevicePathError(fs.device_name, path)
    return directory.children[name]


def may_write(fs: VirtualFS, path: str, uid: int) -> None:
    """Raise as open(O_WRONLY|O_CREAT) would: the file (or, when new, its directory) must be writable."""
    with fs.lock:
        if fs.exists(path):
            node = fs.node(path)
            if isinstance(node, Dir):
                raise IsADirectoryError_(f"{fs.device_name}: {path}: is a directory")
            if not fs.may(node, uid, 0o2):
                raise DevicePermissionError(fs.device_name, path)
            return
        fs.check_create(path, uid)


def mkdir(fs: VirtualFS, path: str, uid: int, mode: int = 0o755, parents: bool = False) -> None:
    """mkdir(2) with the permission check the building API (VirtualFS.mkdir) leaves out."""
    path = posixpath.normpath(path)
    with fs.lock:
        if fs.exists(path):
            if parents and fs.is_dir(path):
                return
            raise FileExistsError(path)
        parent = posixpath.dirname(path) or "/"
        if not fs.exists(parent):
            if not parents:
                raise DevicePathError(fs.device_name, path)
            mkdir(fs, parent, uid, mode, parents=True)
        if not fs.is_dir(parent):
            raise DevicePathError(fs.device_name, path, "not a directory")
        fs.check_create(path, uid)
        fs.mkdir(path, mode=mode, uid=uid)


def rmdir(fs: VirtualFS, path: str, uid: int) -> None:
    with fs.lock:
        node = fs.node(path)
        if not isinstance(node, Dir):
            raise DevicePathError(fs.device_name, path, "not a directory")
        if node.children:
            raise OSError(errno.ENOTEMPTY, "Directory not empty", path)
        fs.remove(path, uid)


def remove_file(fs: VirtualFS, path: str, uid: int) -> None:
    """unlink(2): refuses directories."""
    with fs.lock:
        if fs.is_dir(path) and not isinstance(_lnode(fs, path), Symlink):
            raise IsADirectoryError_(f"{fs.device_name}: {path}: is a directory")
        fs.remove(path, uid)


def rename(fs: VirtualFS, src: str, dst: str, uid: int) -> None:
    """rename(2): move the node; both directories must be writable, an existing target is replaced."""
    with fs.lock:
        node = _lnode(fs, src)
        if fs.is_dir(dst):
            dst = posixpath.join(dst, posixpath.basename(src.rstrip("/")))
        fs.check_create(dst, uid)
        fs.remove(src, uid)
        if fs.exists(dst):
            fs.remove(dst, ROOT_UID)
        fs.add(dst, node)


def mode_string(mode: int) -> str:
    """'drwxr-xr-x' from st_mode."""
    kind = "d" if stat_mod.S_ISDIR(mode) else "l" if stat_mod.S_ISLNK(mode) else "-"
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return kind + bits
