"""The fusegov trace format, defined once: column names, their builders and parsers, metadata, read, write, check.

One row per sample (ARCHITECTURE.md "Formats"): `seq` (sample number; a number skipped marks rows left out, so
the next row's counters cover its own period, not the time since the last row kept), `t_s` (monotonic device time, s),
`phase` and `workload` labels, `freq.<knob>_hz`, `util.<knob>_pct`, `pmc.<group>.<countable>` (counter
increments during the interval), `power.<rail>_w` and `power.total_w`, `temp.<zone>_c`, optional
`volt.<knob>_v`. File metadata (Parquet schema key `fusegov`, JSON): device, profile, soc, period_s,
counters (catalogue), tool version. Parquet is the written format; CSV is accepted on input.

Everything that reads or writes traces (collectors, the power model's ingest, plots, exports) builds and
parses column names with the functions here, never by spelling them out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from android.errors import TraceError

METADATA_KEY = b"fusegov"
REQUIRED_COLUMNS = ("seq", "t_s", "phase", "workload")
REQUIRED_METADATA = ("device", "profile", "soc", "period_s", "tool")
TOTAL_RAIL = "total"

# kind -> (prefix, suffix); knob names may hold dots (devfreq devices: 17000020.devfreq_int), rails and
# zones may not.
_KINDS = {
    "freq": ("freq.", "_hz"),
    "util": ("util.", "_pct"),
    "power": ("power.", "_w"),
    "temp": ("temp.", "_c"),
    "volt": ("volt.", "_v"),
}
COLUMN_PATTERNS = (
    re.compile(r"^freq\..+_hz$"),
    re.compile(r"^util\..+_pct$"),
    re.compile(r"^pmc\.[^.]+\..+$"),
    re.compile(r"^power\.[^.]+_w$"),
    re.compile(r"^temp\.[^.]+_c$"),
    re.compile(r"^volt\..+_v$"),
)
PMC_PREFIX = "pmc."


# ------------------------------------------------------------------------------------------ column names
def freq_col(knob: str) -> str:
    """Time-weighted frequency of a knob over the interval, Hz."""
    return f"freq.{knob}_hz"


def util_col(knob: str) -> str:
    """Busy share of a knob (a CPU policy, the GPU) over the interval, percent."""
    return f"util.{knob}_pct"


def power_col(rail: str) -> str:
    """Mean power of a rail (or `total`) over the interval, W."""
    return f"power.{rail}_w"


def temp_col(zone: str) -> str:
    """Temperature of a thermal zone at the sample, degrees C."""
    return f"temp.{zone}_c"


def volt_col(knob: str) -> str:
    """Supply voltage of a knob's OPP, V."""
    return f"volt.{knob}_v"


def pmc_col(group: str, countable: str) -> str:
    """Increments of one GPU counter over the interval."""
    return f"{PMC_PREFIX}{group}.{countable}"


def parse_col(column: str, kind: str) -> str | None:
    """The knob/rail/zone a `kind` column names (`power.gpu_w` -> `gpu` for kind "power"), else None."""
    prefix, suffix = _KINDS[kind]
    column = str(column)
    if column.startswith(prefix) and column.endswith(suffix) and len(column) > len(prefix) + len(suffix):
        return column[len(prefix) : -len(suffix)]
    return None


def parse_pmc_col(column: str) -> tuple[str, str] | None:
    """(group, countable) of a counter column, else None."""
    column = str(column)
    if not column.startswith(PMC_PREFIX):
        return None
    group, sep, countable = column[len(PMC_PREFIX) :].partition(".")
    return (group, countable) if sep and group and countable else None


def columns_of(frame: pd.DataFrame, kind: str) -> dict[str, str]:
    """{knob/rail/zone: column} for every column of one kind, in file order."""
    out = {}
    for column in frame.columns:
        name = parse_col(column, kind)
        if name is not None:
            out[name] = str(column)
    return out


def pmc_columns(frame: pd.DataFrame) -> list[str]:
    """Counter columns of a trace, in file order."""
    return [str(c) for c in frame.columns if parse_pmc_col(c) is not None]


def rail_of(column: str) -> str | None:
    """`power.gpu_w` -> `gpu`: the rail a power column belongs to (None if not a power column)."""
    return parse_col(column, "power")


# ----------------------------------------------------------------------------------------------- checks
def check_trace(frame: pd.DataFrame, metadata: dict) -> None:
    """Raise TraceError naming the first column or metadata key that breaks the schema."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(f"trace lacks required column(s) {', '.join(missing)}")
    for column in frame.columns:
        if column not in REQUIRED_COLUMNS and not any(p.match(str(column)) for p in COLUMN_PATTERNS):
            raise TraceError(
                f"trace column {column!r} does not follow the schema "
                f"(e.g. {freq_col('gpu')}, {power_col('gpu')}, {pmc_col('SP', 'SP_BUSY_CYCLES')})"
            )
    absent = [k for k in REQUIRED_METADATA if k not in metadata]
    if absent:
        raise TraceError(f"trace metadata lacks {', '.join(absent)}")


# ---------------------------------------------------------------------------------------------- read/write
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


def read_trace(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Return (rows, metadata) of a fusegov trace: a Parquet or CSV file, or a hive-partitioned dataset
    directory (device=/workload=/run=) read as one table. Metadata is {} when the file carries none (CSV);
    a dataset's is its first file's, with `runs` listing every file's."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    if path.is_dir():
        return _read_dataset(path)
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
    import pyarrow as pa
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
    pa.default_memory_pool().release_unused()  # hand freed Arrow pages back instead of keeping them cached
    return frame, meta


# ------------------------------------------------------------------------------ incremental, datasets
PARTITIONS = ("device", "workload", "run")
EMPTY_PARTITION = "__empty__"  # rows outside any workload (workload "") go to workload=__empty__
ROW_GROUP_S = 1.0  # the incremental writer's row groups span at most this much device time


class TraceWriter:
    """Parquet written as it is collected, one row group per `ROW_GROUP_S` of samples, so a crash loses at
    most the last second. All row groups share the first frame's columns; the file's metadata is set when
    it is opened (Parquet footers are written once), so pass what is known then."""

    def __init__(self, path: str | Path, metadata: dict):
        self.path = Path(path)
        self.metadata = metadata
        self._writer = None
        self._schema = None
        self._pending: list[pd.DataFrame] = []
        self.rows = 0

    def append(self, frame: pd.DataFrame) -> None:
        if len(frame):
            self._pending.append(frame)
        if self._pending:
            span = self._pending[-1]["t_s"].iloc[-1] - self._pending[0]["t_s"].iloc[0]
            if span >= ROW_GROUP_S:
                self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        frame = pd.concat(self._pending, ignore_index=True)
        self._pending = []
        if self._writer is None:
            check_trace(frame, self.metadata)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[METADATA_KEY] = json.dumps(self.metadata).encode()
            self._schema = table.schema.with_metadata(meta)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self._schema)
        frame = frame.reindex(columns=self._schema.names)
        self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))
        self.rows += len(frame)

    def close(self) -> Path:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path


def write_dataset(frame: pd.DataFrame, directory: str | Path, metadata: dict) -> list[Path]:
    """A hive-partitioned dataset: DIR/device=D/workload=W/run=R/part-0.parquet, one file per workload and
    run label (the metadata's `run`). As hive datasets do, the partition values live in the path (URI-encoded,
    which pyarrow, DuckDB and Spark decode), not in the files; read_trace(DIR) puts `workload` back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    device = _partition_value(str(metadata.get("device", "device")))
    run = _partition_value(str(metadata.get("run", "0")))
    paths = []
    for workload, rows in frame.groupby("workload", sort=False):
        check_trace(rows, metadata)
        folder = directory / f"device={device}" / f"workload={_partition_value(str(workload))}" / f"run={run}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(rows.drop(columns=["workload"]).reset_index(drop=True), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(metadata).encode()
        pq.write_table(table.replace_schema_metadata(meta), folder / "part-0.parquet")
        paths.append(folder / "part-0.parquet")
    return paths


def _partition_value(text: str) -> str:
    """A value for a hive path segment, URI-encoded as pyarrow's hive partitioning decodes it."""
    from urllib.parse import quote

    return quote(text, safe="") or EMPTY_PARTITION


def _read_dataset(path: Path) -> tuple[pd.DataFrame, dict]:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = sorted(path.rglob("*.parquet"))
    if not files:
        raise TraceError(f"{path}: a directory without Parquet files (expected a device=/workload=/run= dataset)")
    try:
        # Partition keys become columns unless the files already carry them (a file's own column wins), so
        # datasets written by other tools with the labels kept in the files read as one table too.
        in_files = set(pq.read_schema(files[0]).names)
        keys = pa.schema([(name, pa.string()) for name in PARTITIONS if name not in in_files])
        # only the Parquet files: a dataset folder may also hold other files (`fusegov collect -o DIR` puts its
        # plot there)
        dataset = ds.dataset(
            [str(f) for f in files],
            format="parquet",
            partitioning=ds.partitioning(keys, flavor="hive"),
            partition_base_dir=str(path),
        )
        table = dataset.to_table()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad dataset
        raise TraceError(f"{path}: not a readable Parquet dataset ({exc})") from None
    frame = table.to_pandas()
    for name in PARTITIONS:
        if name in frame.columns:
            frame[name] = frame[name].astype(str).replace(EMPTY_PARTITION, "")
    metas = []
    for file in files:
        raw = (pq.read_schema(file).metadata or {}).get(METADATA_KEY)
        metas.append(json.loads(raw) if raw else {})
    meta = dict(metas[0])
    meta["runs"] = [m.get("run") for m in metas]
    extra = [c for c in ("device", "run") if c in frame.columns]
    frame = frame.drop(columns=extra)
    first = [c for c in REQUIRED_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]], meta


def export_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """The trace as CSV (no metadata: CSV has no place for it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
