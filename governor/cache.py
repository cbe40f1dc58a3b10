"""Runs remembered by (setting, bucket, repeat), in memory and optionally on disk.

On the virtual phone a run is a pure function of the profile, the workload, the seed, the inference CPU, the
measurement protocol and the simulator's code, so it can be kept across processes and sessions: the oracle's
sweeps (thousands of runs) are paid once per simulator version. The disk store is one JSON-lines file per
digest of all of those (`runs-<digest>.jsonl` in the cache directory); a change to any of them, a profile or
model file included, starts a new file. Searches still count every run they ask for, cached or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from governor.measure import PROTOCOL, Sample
from governor.phases import PhaseBucket
from governor.space import Setting

Key = tuple[Setting, tuple, int]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fusegov" / "runs"


MEASURED_BY = ("sim", "sysfs", "profiles", "models", "knob.py", "phone.py", "profile.py")


def simulator_digest() -> str:
    """Digest of what a run's numbers depend on in the virtual phone (physics, knob rules, sysfs, profiles,
    models; not its shell or adbd), so a changed simulator misses the cache."""
    import android.emulator

    root = Path(android.emulator.__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(
        p for part in MEASURED_BY for p in ([root / part] if part.endswith(".py") else (root / part).rglob("*"))
    ):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def bucket_key(bucket: PhaseBucket) -> tuple:
    return (bucket.kind, bucket.prompt_tokens, bucket.decode_tokens, bucket.runs)


class CachedMeasurer:
    """Wraps a measurer; runs already made (here, by a sweep, or by an earlier process) are returned, not re-run."""

    def __init__(self, inner, directory: str | Path | None = None):
        self.inner = inner
        self.memory: dict[Key, Sample] = {}
        self.path = None
        if directory is not None and hasattr(inner, "recipe"):
            recipe = inner.recipe()
            identity = pickle.dumps((recipe.key, PROTOCOL, simulator_digest(), _workload_bytes(inner)))
            self.path = Path(directory) / f"runs-{hashlib.sha1(identity).hexdigest()[:20]}.jsonl"
            self._load()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _load(self) -> None:
        if not self.path.exists():
            return
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
                key = (Setting(tuple((k, int(v)) for k, v in row["setting"])), tuple(row["bucket"]), int(row["repeat"]))
                self.memory[key] = Sample(
                    row["latency_s"], row["energy_per_token_j"], row["device_time_s"], row["freq"]
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by an interrupted run: ignore it

    def cached(self, setting: Setting, bucket: PhaseBucket, repeat: int = 0) -> Sample | None:
        return self.memory.get((setting, bucket_key(bucket), repeat))

    def store(self, setting: Setting, bucket: PhaseBucket, repeat: int, sample: Sample) -> None:
        key = (setting, bucket_key(bucket), repeat)
        if key in self.memory:
            return
        self.memory[key] = sample
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            row = {
                "setting": [list(p) for p in setting.pins],
                "bucket": list(key[1]),
                "repeat": repeat,
                "latency_s": sample.latency_s,
                "energy_per_token_j": sample.energy_per_token_j,
                "device_time_s": sample.device_time_s,
                "freq": sample.mean_freq_hz,
            }
            with self.path.open("a") as out:
                out.write(json.dumps(row) + "\n")

    def run(self, setting: Setting, bucket: PhaseBucket, repeat: int = 0) -> Sample:
        found = self.cached(setting, bucket, repeat)
        if found is None:
            found = self.inner.run(setting, bucket, repeat)
            self.store(setting, bucket, repeat, found)
        return found


def _workload_bytes(measurer) -> bytes:
    """The model or ONNX file's content, so editing a model file misses the cache."""
    model, onnx = getattr(measurer, "model", None), getattr(measurer, "onnx", None)
    if model is not None:
        return pickle.dumps(model)
    return Path(onnx).read_bytes() if onnx else b""
