"""The virtual phone's /data partition kept across `fusegov emulate` runs (`--data-dir DIR`), as flash keeps
it across a phone's reboots, while sysfs and /proc start fresh each time.

/data is saved as one tar image (DIR/data.tar: files, directories, FIFOs and symlinks with their modes
and owners) whenever it changed, at most every FLUSH_S of wall time and when the phone stops, the way a
kernel writes dirty pages back: a write in the last moment before the emulator is killed may be lost, as
on a phone that loses power. Only what is inside /data is saved, and the image is read back into /data
only: nothing a client writes reaches any other host path.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import threading
import time
from pathlib import Path

from android.emulator.vfs import Dir, Fifo, File, Symlink, VirtualFS
from android.errors import UsageError

DATA_ROOT = "/data"
IMAGE_NAME = "data.tar"
FLUSH_S = 0.25


class DataDir:
    def __init__(self, directory: str | Path, fs: VirtualFS):
        self.directory, self.fs = Path(directory), fs
        self.image = self.directory / IMAGE_NAME
        self._saved_generation = -1
        self._stop = threading.Event()
        self._flushing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="data-dir", daemon=True)

    # --- loading ------------------------------------------------------------------------------
    def load(self) -> int:
        """Put the saved /data back into the phone; returns the number of entries restored."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--data-dir {self.directory}: cannot create it: {exc.strerror}") from None
        if not self.image.exists():
            return 0
        try:
            with tarfile.open(self.image, "r") as tar:
                members = tar.getmembers()
                count = 0
                with self.fs.lock:
                    for member in members:
                        path = posixpath.normpath("/" + member.name)
                        if path != DATA_ROOT and not path.startswith(DATA_ROOT + "/"):
                            continue  # only /data is ever restored
                        self._restore(tar, member, path)
                        count += 1
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise UsageError(
                f"--data-dir {self.directory}: {IMAGE_NAME} is not a readable /data image ({exc}); "
                "move it away to start with an empty /data"
            ) from None
        self._saved_generation = self.fs.generation
        return count

    def _restore(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        fs = self.fs
        mode, uid = member.mode & 0o7777, member.uid
        if member.isdir():
            node = fs.mkdir(path, mode=mode, uid=uid)
            node.mode, node.uid = mode, uid
            return
        if member.isfile():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            fs.add(path, File(mode=mode, uid=uid, data=data, mtime=member.mtime))
        elif member.isfifo():
            fs.add(path, Fifo(mode=mode, uid=uid, mtime=member.mtime))
        elif member.issym():
            fs.add(path, Symlink(mode=0o777, uid=uid, target=member.linkname, mtime=member.mtime))

    # --- saving -------------------------------------------------------------------------------
    def start(self) -> DataDir:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.flush()

    def flush(self) -> None:
        """Write the image if /data changed since the last one (atomically: a crash keeps the old one). One
        flush at a time: the background thread and a client's fsync share the temporary file."""
        with self._flushing:
            if self.fs.generation == self._saved_generation:
                return
            buffer = io.BytesIO()
            with self.fs.lock:
                generation = self.fs.generation
                with tarfile.open(fileobj=buffer, mode="w") as tar:
                    self._add(tar, DATA_ROOT, self.fs.node(DATA_ROOT))
            tmp = self.image.with_suffix(".tmp")
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, self.image)
            self._saved_generation = generation

    def _add(self, tar: tarfile.TarFile, path: str, node) -> None:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.mode, info.uid, info.gid = node.mode & 0o7777, node.uid, node.uid
        info.mtime = int(getattr(node, "mtime", time.time()))
        if isinstance(node, Dir):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            for name, child in sorted(node.children.items()):
                self._add(tar, f"{path}/{name}", child)
        elif isinstance(node, File):
            info.size = len(node.data)
            tar.addfile(info, io.BytesIO(node.data))
        elif isinstance(node, Fifo):
            info.type = tarfile.FIFOTYPE
            tar.addfile(info)
        elif isinstance(node, Symlink):
            info.type, info.linkname = tarfile.SYMTYPE, node.target
            tar.addfile(info)
