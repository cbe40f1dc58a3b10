"""Phone profiles of other shapes, derived from the built-in ones for tests (written to a temporary file)."""

from __future__ import annotations

import json
from pathlib import Path

from android.emulator.profile import load_profile


def four_cluster_profile(path: Path) -> Path:
    """sm8550 with its gold cluster split in two (policy3: CPUs 3-4, policy5: CPUs 5-6), as Snapdragon 8 Gen 3
    phones have four clusters: the prime core (policy7) is then the fourth policy, not the third."""
    profile = json.loads(Path(load_profile("sm8550").source).read_text())
    gold = next(c for c in profile["cpu"]["clusters"] if c["policy"] == "policy3")
    split = {**gold, "policy": "policy5", "cpus": gold["cpus"][2:]}
    gold["cpus"] = gold["cpus"][:2]
    clusters = profile["cpu"]["clusters"]
    clusters.insert(clusters.index(gold) + 1, split)
    physics = profile["physics"]
    physics["cpu"]["policy5"] = physics["cpu"]["policy3"]
    physics["thermal"]["heat_node"]["policy5"] = physics["thermal"]["heat_node"]["policy3"]
    shares = physics["background"]["policy_share"]
    shares["policy5"] = shares["policy3"] = shares["policy3"] / 2
    profile["name"] = "quad4"
    path.write_text(json.dumps(profile))
    return path
