"""Read fusegov traces (Parquet with schema metadata, or CSV) for the power-model fitter.

The collectors write traces; this is the fitter's reader for the same schema (ARCHITECTURE.md "Formats"):
one row per sample with `seq`, `t_s`, `phase`, `workload`, `freq.<knob>_hz`, `util.<knob>_pct`,
`pmc.<group>.<countable>` (deltas per interval), `power.<rail>_w`, `temp.<zone>_c`, optional `volt.<knob>_v`,
and file metadata under the Parquet schema key `fusegov` (JSON). Only reading lives here, so the power model
depends on the file format and never on the collectors' code.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from android.errors import TraceError

METADATA_KEY = b"fusegov"
PMC_PREFIX = "pmc."


def read_trace(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Return (rows, metadata) of a fusegov trace; metadata is {} when the file carries none (CSV)."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    if suffix in (".csv", ".txt") or suffix == ".gz" and path.name.lower().endswith(".csv.gz"):
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise TraceError(f"{path}: not a readable CSV trace ({exc})") from exc
        return frame, {}
    raise TraceError(f"{path}: unknown trace file type {suffix!r} (expected .parquet or .csv)")


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, pre_buffer=False)  # pre-buffering holds compressed pages twice
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise TraceError(f"{path}: not a readable Parquet trace ({exc})") from exc
    meta: dict = {}
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw:
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}: metadata key 'fusegov' is not JSON ({exc})") from exc
    # split_blocks/self_destruct: free Arrow buffers column by column instead of holding two copies
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # hand freed Arrow pages back instead of keeping them cached
    return frame, meta


def pmc_columns(frame: pd.DataFrame) -> list[str]:
    """Counter columns of a trace, in file order."""
    return [c for c in frame.columns if str(c).startswith(PMC_PREFIX)]


def rail_of(power_col: str) -> str | None:
    """`power.gpu_w` -> `gpu`: the knob/rail a power column belongs to (None if not that pattern)."""
    if power_col.startswith("power.") and power_col.endswith("_w"):
        return power_col[len("power."):-len("_w")]
    return None
