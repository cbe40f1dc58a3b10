"""`--data-dir`: the saved /data image under concurrent flushes (the background thread and a client's fsync
share one temporary file; a race there once lost a rename and surfaced in the daemon as FileNotFoundError)."""

from __future__ import annotations

import threading

from android.emulator.persist import DataDir
from android.emulator.vfs import File, VirtualFS


def test_concurrent_flushes_never_fail_and_the_last_change_is_saved(tmp_path):
    fs = VirtualFS("test")
    saved = DataDir(tmp_path, fs)
    errors: list[BaseException] = []

    def flush_many(worker: int) -> None:
        try:
            for i in range(100):
                fs.add(f"/data/local/tmp/w{worker}", File(mode=0o644, uid=0, data=str(i).encode()))
                saved.flush()
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever a flush raised
            errors.append(exc)

    workers = [threading.Thread(target=flush_many, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    saved.flush()

    restored = VirtualFS("test")
    assert DataDir(tmp_path, restored).load() > 0
    for w in range(4):
        assert restored.node(f"/data/local/tmp/w{w}").data == b"99"
