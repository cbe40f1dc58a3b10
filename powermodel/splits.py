"""Which workloads train a model and which test it: split files, or a seeded hold-out of whole groups.

Workloads never straddle the split: a power model is only worth something on programs it has not seen.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from powermodel.errors import PowerModelError
from powermodel.ingest import InputWarning


@dataclass
class Split:
    train: list[str]
    test: list[str]
    source: str  # file name, or "hold-out 25% of groups, seed 0"

    def to_dict(self) -> dict:
        return {"train": self.train, "test": self.test, "source": self.source}


def read_split(path: str | Path) -> Split:
    """Read a split file.

    Two layouts: ARMPM's (two columns headed like "#Train Benchmarks" and "Test Benchmarks", one workload
    per cell), or a long table with a workload column and a column of `train`/`test` labels.
    """
    path = Path(path)
    if not path.is_file():
        raise PowerModelError(f"{path}: no such split file (--split)")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise PowerModelError(f"{path}: not a readable split file ({exc})") from exc
    frame.columns = [str(c).lstrip("#").strip() for c in frame.columns]
    lower = [c.lower() for c in frame.columns]
    train_cols = [c for c, lc in zip(frame.columns, lower) if "train" in lc]
    test_cols = [c for c, lc in zip(frame.columns, lower) if "test" in lc]
    if len(train_cols) == 1 and len(test_cols) == 1:
        train = [v.strip() for v in frame[train_cols[0]] if v.strip()]
        test = [v.strip() for v in frame[test_cols[0]] if v.strip()]
    elif frame.shape[1] == 2 and set(frame.iloc[:, 1].str.strip().str.lower()) <= {"train", "test"}:
        label = frame.iloc[:, 1].str.strip().str.lower()
        names = frame.iloc[:, 0].str.strip()
        train, test = names[label == "train"].tolist(), names[label == "test"].tolist()
    else:
        raise PowerModelError(
            f"{path}: expected columns named Train/Test, or a workload column and a train/test "
            f"column; got {list(frame.columns)}"
        )
    both = sorted(set(train) & set(test))
    if both:
        raise PowerModelError(f"{path}: workload(s) in both train and test: {', '.join(both)}")
    if not train or not test:
        raise PowerModelError(f"{path}: the split needs at least one train and one test workload")
    return Split(train=train, test=test, source=str(path))


def check_split(split: Split, groups: np.ndarray) -> Split:
    """Unknown workloads in a split are an error; data workloads the split does not name are left out."""
    present = set(np.unique(groups).tolist())
    unknown = [g for g in split.train + split.test if g not in present]
    if unknown:
        hints = []
        for g in unknown[:5]:
            close = difflib.get_close_matches(g, sorted(present), n=1)
            hints.append(f"{g!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise PowerModelError(
            f"{split.source}: {len(unknown)} workload(s) not in the data: {', '.join(hints)}"
            + (" ..." if len(unknown) > 5 else "")
        )
    unnamed = sorted(present - set(split.train) - set(split.test))
    if unnamed:
        warnings.warn(
            f"{split.source}: {len(unnamed)} workload(s) in the data are in neither train nor test "
            f"and are left out: {', '.join(unnamed[:8])}" + (" ..." if len(unnamed) > 8 else ""),
            InputWarning,
            stacklevel=2,
        )
    return split


def holdout_split(groups: np.ndarray, test_fraction: float = 0.25, seed: int = 0) -> Split:
    """Hold out a seeded random share of whole groups (at least one), keeping at least two for training."""
    unique = np.unique(groups)
    if len(unique) < 3:
        raise PowerModelError(
            f"the group column has {len(unique)} group(s) ({', '.join(map(str, unique[:5]))}): held-out "
            "evaluation with grouped cross-validation needs at least 3 workloads; give --group-col naming the "
            "workload column, or --split FILE"
        )
    if not 0 < test_fraction < 1:
        raise PowerModelError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    n_test = min(max(1, int(round(test_fraction * len(unique)))), len(unique) - 2)
    rng = np.random.default_rng(seed)
    test = sorted(rng.choice(unique, size=n_test, replace=False).tolist())
    train = [g for g in unique.tolist() if g not in test]
    return Split(train=train, test=test, source=f"hold-out {n_test} of {len(unique)} groups, seed {seed}")
