"""The on-disk run cache: runs one process made are found by the next, wherever the checkout or profile file sits,
and a profile that changes starts a store of its own."""

from __future__ import annotations

import json
import shutil

from governor.cache import CachedMeasurer
from governor.measure import VirtualMeasurer
from governor.phases import llm_buckets
from governor.requests import Requests
from governor.space import STOCK
from tests.governor.conftest import HEXA6, TINYLLAMA


def _bucket():
    return next(b for b in llm_buckets(Requests("tiny", (12, 20), (4, 6)), count=1) if b.kind == "decode")


def test_runs_are_found_again_from_a_copy_of_the_profile_elsewhere_and_missed_once_it_changes(tmp_path):
    store = tmp_path / "runs"
    copies = [tmp_path / "a" / "hexa6.json", tmp_path / "b" / "hexa6.json"]
    for copy in copies:
        copy.parent.mkdir()
        shutil.copy(HEXA6, copy)
    bucket = _bucket()
    first = CachedMeasurer(VirtualMeasurer(str(copies[0]), TINYLLAMA), store)
    made = first.run(STOCK, bucket)
    assert first.path.exists()

    moved = CachedMeasurer(VirtualMeasurer(str(copies[1]), TINYLLAMA), store)
    assert moved.path == first.path  # what the profile holds names the store, not where the file sits
    assert moved.cached(STOCK, bucket) == made

    raw = json.loads(copies[1].read_text())
    raw["name"] = "hexa6-edited"
    copies[1].write_text(json.dumps(raw))
    edited = CachedMeasurer(VirtualMeasurer(str(copies[1]), TINYLLAMA), store)
    assert edited.path != first.path and edited.cached(STOCK, bucket) is None
