"""Sweeps: many (setting, bucket) runs on the virtual phone, in worker processes or on a Dask cluster.

Runs depend only on (setting, bucket, repeat) (measure.VirtualMeasurer), so a sweep can be cut into chunks
and run anywhere. Chunks group the buckets of a few settings together, so each worker builds its measurer
once and pays the per-task overhead once per chunk. `executor`:
- None or "local": `workers` processes on this machine (1: in this process, no pool);
- "dask://HOST:PORT": the tasks go to that dask.distributed scheduler (`dask-scheduler` + `dask-worker`).

Stopping: Ctrl-C or SIGTERM (turned into android.knobs.Terminated while a sweep runs) ends the sweep at
once: local workers are terminated (multiprocessing.Pool.terminate; they ignore SIGINT themselves, so a
Ctrl-C to the whole process group cannot strand the pool), and on Linux a worker also dies with its parent
if that is killed outright; Dask tasks are cancelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from governor.errors import GovernorError
from governor.measure import Sample, VirtualMeasurer
from governor.phases import PhaseBucket
from governor.space import Setting

CHUNK_SETTINGS = 4


@dataclass(frozen=True, eq=False)
class Recipe:
    """Everything a worker needs to build the same measurer: picklable; `key` names it in a worker's cache."""

    profile: object  # android.emulator.profile.Profile
    workload: str
    seed: int
    cpu: int
    key: str

    @classmethod
    def of(cls, measurer: VirtualMeasurer) -> Recipe:
        import hashlib
        import pickle

        spec = measurer.spec
        workload = f"{spec.kind}:{spec.target}"
        # named by what the profile holds, not where it was read from: the on-disk run cache (governor.cache) is
        # keyed by this, and with the file's path in it a fresh clone or a moved checkout missed every stored sweep
        profile = dataclasses.replace(measurer.profile, source="")
        digest = hashlib.sha1(pickle.dumps((profile, workload, measurer.seed, measurer.cpu))).hexdigest()
        return cls(measurer.profile, workload, measurer.seed, measurer.cpu, digest)


_MEASURERS: dict[str, VirtualMeasurer] = {}


def _measurer(recipe: Recipe) -> VirtualMeasurer:
    found = _MEASURERS.get(recipe.key)
    if found is None:
        found = _MEASURERS[recipe.key] = VirtualMeasurer(recipe.profile, recipe.workload, recipe.seed, recipe.cpu)
    return found


Task = tuple[Setting, PhaseBucket]
Result = tuple[Setting, str, Sample, float]


def run_chunk(recipe: Recipe, tasks: list[Task]) -> list[Result]:
    measurer = _measurer(recipe)
    out = []
    for setting, bucket in tasks:
        start = time.perf_counter()
        sample = measurer.run(setting, bucket)
        out.append((setting, bucket.name, sample, time.perf_counter() - start))
    return out


def _run_part(args: tuple[Recipe, list[Task]]) -> list[Result]:
    try:
        return run_chunk(*args)
    except KeyboardInterrupt:  # the pool is stopping (Pool.terminate's SIGTERM met a run holding pins)
        raise SystemExit(1) from None


def _worker_init() -> None:
    """In each local worker: the parent handles Ctrl-C and stops the pool; die if the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: Pool.terminate on the way out still stops them
        pass


@contextlib.contextmanager
def _workers_ignore_sigint():
    """Start the pool's workers with SIGINT ignored from their first instruction (an ignored signal stays
    ignored across exec): `_worker_init` only runs after a worker has unpickled its start-up state and imported
    the governor, and a Ctrl-C to the process group in that window printed a worker's KeyboardInterrupt
    traceback (CI, `test_stopping_a_sweep_stops_its_workers[Ctrl-C]`). Only around the pool's creation, which
    starts the workers: the parent's own handler is back before the sweep's first task."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _terminate_on_sigterm():
    """SIGTERM ends the sweep like Ctrl-C (main thread only, where Python delivers signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from android.knobs import Terminated

    def handle(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def chunks(tasks: list[Task], size: int = CHUNK_SETTINGS) -> list[list[Task]]:
    """Group tasks by setting, `size` settings per chunk."""
    by_setting: dict[Setting, list[Task]] = {}
    for task in tasks:
        by_setting.setdefault(task[0], []).append(task)
    groups = list(by_setting.values())
    return [[t for group in groups[i : i + size] for t in group] for i in range(0, len(groups), size)]


def sweep(
    recipe: Recipe,
    tasks: list[Task],
    executor: str | None = None,
    workers: int = 1,
) -> Iterator[Result]:
    """Run every task; yields results as chunks finish (order not kept)."""
    parts = chunks(tasks)
    if executor and executor.startswith("dask://"):
        yield from _dask(recipe, parts, executor)
        return
    if executor not in (None, "", "local"):
        raise GovernorError(f"unknown --executor {executor!r}: use local or dask://HOST:PORT")
    if workers <= 1:
        for part in parts:
            yield from run_chunk(recipe, part)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no forked simulator state, same as a Dask worker
    with _workers_ignore_sigint():
        pool = context.Pool(workers, initializer=_worker_init)
    with _terminate_on_sigterm(), pool:
        # leaving the block any way (done, error, Ctrl-C, SIGTERM, the caller dropping this generator)
        # terminates the workers: Pool.__exit__ is Pool.terminate
        for results in pool.imap_unordered(_run_part, [(recipe, part) for part in parts]):
            yield from results


def _dask(recipe: Recipe, parts: list[list[Task]], executor: str) -> Iterator[Result]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise GovernorError("--executor dask:// needs dask.distributed: pip install 'dask[distributed]'") from None
    address = "tcp://" + executor.removeprefix("dask://")
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise GovernorError(f"--executor {executor}: cannot reach the Dask scheduler: {exc}") from None
    futures = []
    try:
        with _terminate_on_sigterm():
            shared = client.scatter(recipe, broadcast=True)
            futures = [client.submit(run_chunk, shared, part, pure=False) for part in parts]
            for future in as_completed(futures):
                yield from future.result()
    finally:
        if futures:
            client.cancel(futures)
        client.close()
