"""The fusegov trace format: one row per sample, units in column names, metadata in the file.

Columns (ARCHITECTURE.md "Formats"): `seq` (sample number), `t_s` (monotonic device time, s), `phase`
and `workload` labels, `freq.<knob>_hz`, `util.<knob>_pct`, `pmc.<group>.<countable>` (counter
increments during the interval), `power.<rail>_w` and `power.total_w`, `temp.<zone>_c`, optional
`volt.<knob>_v`. File metadata (Parquet schema key `fusegov`, JSON): device, profile, soc, period_s,
counters (catalogue), tool version. Parquet is the written format; CSV is accepted on input.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from android.errors import TraceError

METADATA_KEY = b"fusegov"
REQUIRED_COLUMNS = ("seq", "t_s", "phase", "workload")
COLUMN_PATTERNS = (
    re.compile(r"^freq\..+_hz$"),  # knob names may hold dots (devfreq devices: 17000020.devfreq_int)
    re.compile(r"^util\..+_pct$"),
    re.compile(r"^pmc\.[^.]+\..+$"),
    re.compile(r"^power\.[^.]+_w$"),
    re.compile(r"^temp\.[^.]+_c$"),
    re.compile(r"^volt\..+_v$"),
)
REQUIRED_METADATA = ("device", "profile", "soc", "period_s", "tool")


def check_trace(frame: pd.DataFrame, metadata: dict) -> None:
    """Raise TraceError naming the first column or metadata key that breaks the schema."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(f"trace lacks required column(s) {', '.join(missing)}")
    for column in frame.columns:
        if column not in REQUIRED_COLUMNS and not any(p.match(str(column)) for p in COLUMN_PATTERNS):
            raise TraceError(f"trace column {column!r} does not follow the schema (e.g. freq.gpu_hz, power.gpu_w)")
    absent = [k for k in REQUIRED_METADATA if k not in metadata]
    if absent:
        raise TraceError(f"trace metadata lacks {', '.join(absent)}")


def write_trace(frame: pd.DataFrame, path: str | Path, metadata: dict) -> Path:
    """Write a trace as Parquet with its metadata under the schema key `fusegov`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_trace(frame, metadata)
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(metadata).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(schema_meta), path)
    return path
