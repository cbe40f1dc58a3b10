"""Turn fusegov traces, ARMPM tab-separated logs and mapped CSV files into one `PowerTable`.

Everything downstream (features, selection, models) sees only a `PowerTable`, so a new input format is one
loader here. Loaders validate early and name the file, row and column of a problem: a bad value must never
reach a regression silently.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from android.errors import TraceError
from collectors import trace
from powermodel.options import BAD_VALUE_POLICIES, COUNTER_KINDS, FORMATS, FREQ_UNITS, TIME_UNITS

# A time step this many times the file's median interval starts a new contiguous segment.
GAP_FACTOR = 3.0


class InputWarning(UserWarning):
    """An input problem fusegov worked around (rows dropped, wraps fixed); the CLI prints it."""


@dataclass
class ColumnMapping:
    """Which input columns hold what; None means "the format's default"."""

    power: str | None = None
    freq: str | None = None
    freq_unit: str | None = None
    group: str | None = None
    counters: list[str] | None = None  # names or glob patterns (`pmc.SP.*`)
    counter_kind: str | None = None  # delta (per-interval counts), total (cumulative), rate (per second)
    volt: str | None = None
    temp: str | None = None
    time: str | None = None
    time_unit: str | None = None
    util: str | None = None
    cycles_counter: str | None = None  # counter whose rate / f is the utilisation (ARMPM: CPU_CYCLES)
    interval_s: float | None = None  # sampling interval when the file has no time column

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict | None) -> ColumnMapping:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise TraceError(f"unknown column-mapping keys: {sorted(unknown)}")
        return cls(**data)

    def merged(self, override: ColumnMapping) -> ColumnMapping:
        """This mapping with every field `override` sets replaced."""
        return replace(self, **override.to_dict())


@dataclass
class PowerTable:
    """Samples from one or more files, already in SI units (Hz, s, V, C, W), one row per counter window."""

    counters: pd.DataFrame  # raw counter values as read (float64), one column per counter
    counter_kind: str
    power_w: np.ndarray
    freq_hz: np.ndarray
    group: np.ndarray  # workload / benchmark label of each row (str)
    segment: np.ndarray  # id of the contiguous run a row belongs to (differences never cross segments)
    source_file: np.ndarray  # index into `files`
    source_row: np.ndarray  # 0-based data row in that file
    files: list[str]
    t_s: np.ndarray | None = None
    interval_s: np.ndarray | None = None  # length of each row's counter window
    volt_v: np.ndarray | None = None
    temp_c: np.ndarray | None = None
    util: np.ndarray | None = None  # 0..1, for the utilisation-frequency baseline
    cycles_counter: str | None = None
    target: str = "power"
    format: str = "csv"
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.power_w)

    @property
    def counter_names(self) -> list[str]:
        return [str(c) for c in self.counters.columns]

    def subset(self, mask: np.ndarray) -> PowerTable:
        """Rows selected by a boolean mask or an integer index."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self,
            counters=self.counters.iloc[idx].reset_index(drop=True),
            power_w=self.power_w[idx],
            freq_hz=self.freq_hz[idx],
            group=self.group[idx],
            segment=self.segment[idx],
            source_file=self.source_file[idx],
            source_row=self.source_row[idx],
            t_s=take(self.t_s),
            interval_s=take(self.interval_s),
            volt_v=take(self.volt_v),
            temp_c=take(self.temp_c),
            util=take(self.util),
        )

    def where(self, row: int) -> str:
        """Human location of table row `row`: file and data row (and text line)."""
        name = self.files[int(self.source_file[row])]
        data_row = int(self.source_row[row])
        if name.lower().endswith((".parquet", ".pq")):
            return f"{name}: row {data_row}"
        return f"{name}: row {data_row} (line {data_row + 2})"


# ---------------------------------------------------------------------------------------------- public API
def detect_format(path: str | Path) -> str:
    """Guess the format of one input from its name and first line; a directory is a fusegov dataset
    (hive-partitioned Parquet, device=/workload=/run=), read by `collectors.trace.read_trace`."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir() or name.endswith((".parquet", ".pq")):
        return "fusegov"
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc})") from exc
    if first.startswith("#") and "\t" in first:
        return "armpm"
    if re.search(r"(^|,)pmc\.", first) and "workload" in first:
        return "fusegov"
    return "csv"


def load_inputs(
    paths: list[str | Path],
    fmt: str = "auto",
    mapping: ColumnMapping | None = None,
    bad_values: str = "drop",
) -> PowerTable:
    """Read and concatenate input files into one validated `PowerTable`."""
    if not paths:
        raise TraceError("no input files given")
    if fmt not in FORMATS:
        raise TraceError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if bad_values not in BAD_VALUE_POLICIES:
        raise TraceError(f"unknown bad-value policy {bad_values!r} (choose from drop, refuse)")
    mapping = mapping or ColumnMapping()
    if mapping.counter_kind is not None and mapping.counter_kind not in COUNTER_KINDS:
        raise TraceError(f"unknown counter kind {mapping.counter_kind!r} (choose from {', '.join(COUNTER_KINDS)})")
    tables = []
    for index, path in enumerate(paths):
        if not Path(path).exists():
            raise TraceError(f"{path}: no such file")
        file_fmt = detect_format(path) if fmt == "auto" else fmt
        loader = {"fusegov": _load_fusegov, "armpm": _load_armpm, "csv": _load_csv}[file_fmt]
        table = loader(Path(path), mapping)
        table.source_file = np.full(len(table), index)
        table.files = [str(p) for p in paths]
        tables.append(table)
    table = _concat(tables)
    table = _check_values(table, bad_values)
    return _check_power(table, bad_values)


# ------------------------------------------------------------------------------------------------- loaders
def _load_fusegov(path: Path, mapping: ColumnMapping) -> PowerTable:
    frame, meta = trace.read_trace(path)
    power_col = mapping.power or trace.power_col("gpu")
    rail = trace.rail_of(power_col) or "gpu"
    _require(frame, path, power_col, "--target")

    def default(col: str | None, candidates: list[str]) -> str | None:
        if col is not None:
            return col
        return next((c for c in candidates if c in frame.columns), None)

    temp_zones = [c for zone, c in trace.columns_of(frame, "temp").items() if rail in zone]
    resolved = ColumnMapping(
        power=power_col,
        freq=default(mapping.freq, [trace.freq_col(rail), trace.freq_col("gpu")]),
        freq_unit=mapping.freq_unit or "hz",
        group=mapping.group or "workload",
        counters=mapping.counters or ["pmc.*"],
        counter_kind=mapping.counter_kind or "delta",
        volt=default(mapping.volt, [trace.volt_col(rail)]),
        temp=default(mapping.temp, temp_zones),
        time=default(mapping.time, ["t_s"]),
        time_unit=mapping.time_unit or "s",
        util=default(mapping.util, [trace.util_col(rail)]),
        cycles_counter=mapping.cycles_counter,
        interval_s=mapping.interval_s or meta.get("period_s"),
    )
    if resolved.freq is None:
        raise TraceError(f"{path}: no frequency column {trace.freq_col(rail)}; give --freq-col")
    breaks = None
    if "seq" in frame.columns:
        seq = pd.to_numeric(frame["seq"], errors="coerce").to_numpy(float)
        breaks = np.r_[True, np.diff(seq) != 1]
    table = _build(frame, path, resolved, "fusegov", meta, extra_breaks=breaks)
    table.target = power_col
    return table


ARMPM_PATTERNS = {
    "time": r"timestamp",
    "group": r"benchmark|workload",
    "run": r"^run\b|^run\(",
    "freq": r"frequency\s*\(mhz\)",
    "temp": r"temperature",
    "volt": r"voltage",
    "current": r"current",
    "power": r"power\s*\(w\)",
}


def _load_armpm(path: Path, mapping: ColumnMapping) -> PowerTable:
    try:
        frame = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TraceError(f"{path}: not a readable ARMPM tab-separated file ({exc})") from exc
    frame.columns = [str(c).lstrip("#").strip() for c in frame.columns]
    found: dict[str, list[str]] = {
        key: [c for c in frame.columns if re.search(pattern, c, flags=re.IGNORECASE)]
        for key, pattern in ARMPM_PATTERNS.items()
    }

    def pick(key: str, given: str | None, required: bool) -> str | None:
        if given is not None:
            _require(frame, path, given, f"--{key}-col")
            return given
        hits = found[key]
        if len(hits) > 1:
            raise TraceError(f"{path}: several {key} columns {hits}; choose one with --{key}-col")
        if not hits and required:
            raise TraceError(f"{path}: no {key} column (looked for /{ARMPM_PATTERNS[key]}/ in the header)")
        return hits[0] if hits else None

    power = pick("power", mapping.power, True)
    freq = pick("freq", mapping.freq, True)
    group = pick("group", mapping.group, True)
    time = pick("time", mapping.time, False)
    volt = pick("volt", mapping.volt, False)
    temp = pick("temp", mapping.temp, False)
    context = {c for hits in found.values() for c in hits} | {power, freq, group, time, volt, temp}
    counters = mapping.counters or [
        c for c in frame.columns if c not in context and pd.api.types.is_numeric_dtype(frame[c])
    ]
    resolved = ColumnMapping(
        power=power,
        freq=freq,
        freq_unit=mapping.freq_unit or "mhz",
        group=group,
        counters=counters,
        counter_kind=mapping.counter_kind or "delta",
        volt=volt,
        temp=temp,
        time=time,
        time_unit=mapping.time_unit or "ns",
        util=mapping.util,
        cycles_counter=mapping.cycles_counter or ("CPU_CYCLES" if "CPU_CYCLES" in frame.columns else None),
        interval_s=mapping.interval_s,
    )
    breaks = None
    run = found["run"]
    if run:
        runs = frame[run[0]].to_numpy()
        breaks = np.r_[True, runs[1:] != runs[:-1]]
    table = _build(frame, path, resolved, "armpm", {}, extra_breaks=breaks)
    table.target = power
    return table


def _load_csv(path: Path, mapping: ColumnMapping) -> PowerTable:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise TraceError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [
        opt
        for opt, val in (("--target", mapping.power), ("--freq-col", mapping.freq), ("--group-col", mapping.group))
        if val is None
    ]
    if missing:
        raise TraceError(f"{path}: a plain CSV needs a column mapping; missing {', '.join(missing)}")
    context = {mapping.power, mapping.freq, mapping.group, mapping.volt, mapping.temp, mapping.time, mapping.util}
    counters = mapping.counters or [
        c for c in frame.columns if c not in context and pd.api.types.is_numeric_dtype(frame[c])
    ]
    resolved = replace(
        mapping,
        counters=counters,
        counter_kind=mapping.counter_kind or "delta",
        freq_unit=mapping.freq_unit or "hz",
        time_unit=mapping.time_unit or "s",
    )
    table = _build(frame, path, resolved, "csv", {})
    table.target = mapping.power
    return table


# ------------------------------------------------------------------------------------------------ building
def _build(
    frame: pd.DataFrame, path: Path, m: ColumnMapping, fmt: str, meta: dict, extra_breaks: np.ndarray | None = None
) -> PowerTable:
    """Common part of every loader: resolve columns, convert units, find segments and intervals."""
    for col, opt in (
        (m.power, "--target"),
        (m.freq, "--freq-col"),
        (m.group, "--group-col"),
        (m.volt, "--volt-col"),
        (m.temp, "--temp-col"),
        (m.time, "--time-col"),
        (m.util, "--util-col"),
    ):
        if col is not None:
            _require(frame, path, col, opt)
    if m.freq_unit not in FREQ_UNITS:
        raise TraceError(f"unknown frequency unit {m.freq_unit!r} (choose from {', '.join(FREQ_UNITS)})")
    if m.time_unit not in TIME_UNITS:
        raise TraceError(f"unknown time unit {m.time_unit!r} (choose from {', '.join(TIME_UNITS)})")
    counter_cols = resolve_counters(list(map(str, frame.columns)), m.counters or [], path)
    if m.cycles_counter is not None and m.cycles_counter not in counter_cols:
        if m.cycles_counter in frame.columns:
            counter_cols.append(m.cycles_counter)
        else:
            raise TraceError(_unknown(path, m.cycles_counter, "cycles counter", frame.columns))
    if not counter_cols:
        raise TraceError(f"{path}: no counter columns")

    n = len(frame)
    if n == 0:
        raise TraceError(f"{path}: no data rows")
    counters = pd.DataFrame(_numeric_block(frame, counter_cols, path), columns=counter_cols, copy=False)
    power = _numeric(frame, m.power, path)
    freq = _numeric(frame, m.freq, path) * FREQ_UNITS[m.freq_unit]
    group = frame[m.group].astype(str).to_numpy()
    volt = _numeric(frame, m.volt, path) if m.volt else None
    temp = _numeric(frame, m.temp, path) if m.temp else None
    util = None
    if m.util:
        util = _numeric(frame, m.util, path)
        if np.nanmax(util) > 1.5:  # percent
            util = util / 100.0
    t_s = None
    if m.time:
        raw_time = frame[m.time]
        if pd.api.types.is_integer_dtype(raw_time):  # ns stamps: subtract first, keep integer precision
            t_s = (raw_time - raw_time.iloc[0]).to_numpy(dtype=float) * TIME_UNITS[m.time_unit]
        else:
            t_s = _numeric(frame, m.time, path) * TIME_UNITS[m.time_unit]

    # Contiguous segments: a change of workload or run, a non-increasing or long time step. (A frequency
    # change is not a break: counters keep counting and windows keep their measured length through DVFS.)
    brk = np.ones(n, dtype=bool)
    brk[1:] = group[1:] != group[:-1]
    if extra_breaks is not None:
        brk |= extra_breaks
    interval = None
    if t_s is not None:
        step = np.diff(t_s)
        good = np.isfinite(step) & (step > 0)
        nominal = float(m.interval_s or (np.median(step[good]) if good.any() else np.nan))
        brk[1:] |= ~good | (step > GAP_FACTOR * nominal)
        interval = np.empty(n)
        interval[1:] = step
        interval[brk] = nominal  # first window of a segment: the nominal period
    elif m.interval_s:
        interval = np.full(n, float(m.interval_s))
    segment = np.cumsum(brk) - 1
    return PowerTable(
        counters=counters,
        counter_kind=m.counter_kind,
        power_w=power,
        freq_hz=freq,
        group=group,
        segment=segment,
        source_file=np.zeros(n, dtype=int),
        source_row=np.arange(n),
        files=[str(path)],
        t_s=t_s,
        interval_s=interval,
        volt_v=volt,
        temp_c=temp,
        util=util,
        cycles_counter=m.cycles_counter,
        format=fmt,
        mapping=m,
        meta=meta,
    )


def resolve_counters(columns: list[str], patterns: list[str], path: Path | str = "input") -> list[str]:
    """Expand counter names and glob patterns against a header; an unknown name is an error."""
    out: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
            if not hits:
                raise TraceError(f"{path}: counter pattern {pattern!r} matches no column")
        elif pattern in columns:
            hits = [pattern]
        else:
            raise TraceError(_unknown(path, pattern, "counter", columns))
        out.extend(h for h in hits if h not in out)
    return out


def _unknown(path, name: str, what: str, columns) -> str:
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{path}: unknown {what} {name!r} (not a column of the file){hint}"


def _require(frame: pd.DataFrame, path: Path, col: str, option: str) -> None:
    if col not in frame.columns:
        raise TraceError(_unknown(path, col, f"column (from {option})", frame.columns))


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    text = frame[col]
    bad = np.isnan(values) & text.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise TraceError(f"{path}: row {row}, column {col}: not a number ({text.iloc[row]!r})")
    return values


def _numeric_block(frame: pd.DataFrame, cols: list[str], path: Path) -> np.ndarray:
    """Counter columns as one float64 array (one copy); per-column parsing only if some are not numeric."""
    if all(pd.api.types.is_numeric_dtype(frame[c]) for c in cols):
        return frame[cols].to_numpy(dtype=float)
    return np.column_stack([_numeric(frame, c, path) for c in cols])


def _concat(tables: list[PowerTable]) -> PowerTable:
    if len(tables) == 1:
        return tables[0]
    first = tables[0]
    common = [c for c in first.counter_names if all(c in t.counters.columns for t in tables[1:])]
    dropped = sorted({c for t in tables for c in t.counter_names} - set(common))
    if dropped:
        warnings.warn(
            f"counters not present in every input were dropped: {', '.join(dropped[:10])}"
            + (" ..." if len(dropped) > 10 else ""),
            InputWarning,
            stacklevel=3,
        )
    if not common:
        raise TraceError("the input files have no counter in common")
    offsets = np.cumsum([0] + [int(t.segment.max()) + 1 for t in tables[:-1]])

    def cat(name: str):
        parts = [getattr(t, name) for t in tables]
        if any(p is None for p in parts):
            return None
        return np.concatenate(parts)

    kinds = {t.counter_kind for t in tables}
    if len(kinds) > 1:
        raise TraceError(f"inputs mix counter kinds {sorted(kinds)}; convert them to one kind first")
    return replace(
        first,
        counters=pd.concat([t.counters[common] for t in tables], ignore_index=True),
        power_w=cat("power_w"),
        freq_hz=cat("freq_hz"),
        group=cat("group"),
        segment=np.concatenate([t.segment + off for t, off in zip(tables, offsets)]),
        source_file=cat("source_file"),
        source_row=cat("source_row"),
        t_s=cat("t_s"),
        interval_s=cat("interval_s"),
        volt_v=cat("volt_v"),
        temp_c=cat("temp_c"),
        util=cat("util"),
        meta={"files": [t.meta for t in tables]},
    )


# ---------------------------------------------------------------------------------------------- validation
def _check_values(table: PowerTable, policy: str) -> PowerTable:
    """Report NaN/inf with row and column; drop those rows (warning) or refuse (error)."""
    columns: dict[str, np.ndarray] = {
        table.mapping.power or "power": table.power_w,
        table.mapping.freq or "frequency": table.freq_hz,
    }
    for name, arr in (("volt", table.volt_v), ("temp", table.temp_c), ("util", table.util), ("time", table.t_s)):
        if arr is not None:
            columns[getattr(table.mapping, name) or name] = arr
    names = list(columns) + table.counter_names
    counters = table.counters.to_numpy(dtype=float, copy=False)
    bad_ctx = ~np.isfinite(np.column_stack(list(columns.values())))
    bad_cnt = ~np.isfinite(counters)
    bad_rows = bad_ctx.any(axis=1) | bad_cnt.any(axis=1)
    if not bad_rows.any():
        return table
    n_bad = int(bad_ctx.sum() + bad_cnt.sum())
    rows_idx = np.flatnonzero(bad_rows)[:5]
    bad = np.column_stack([bad_ctx[rows_idx], bad_cnt[rows_idx]])
    values = np.column_stack([np.column_stack(list(columns.values()))[rows_idx], counters[rows_idx]])
    shown_rows, shown_cols = np.nonzero(bad)
    shown = "; ".join(
        f"{table.where(int(rows_idx[r]))}, column {names[c]}: {values[r, c]}"
        for r, c in list(zip(shown_rows, shown_cols))[:5]
    )
    n_rows = int(bad_rows.sum())
    summary = f"{n_bad} non-finite value(s) in {n_rows} row(s): {shown}" + (" ..." if n_bad > 5 else "")
    if policy == "refuse":
        raise TraceError(summary + " (use --bad-values drop to drop those rows)")
    warnings.warn(summary + "; those rows were dropped", InputWarning, stacklevel=3)
    return _drop_rows(table, ~bad_rows)


def _check_power(table: PowerTable, policy: str) -> PowerTable:
    """A constant power column is an error; power <= 0 (MAPE undefined) is dropped or refused."""
    name = table.target
    power = table.power_w
    if np.ptp(power) <= 1e-12 * max(1.0, float(np.abs(power).max())):
        raise TraceError(
            f"power column {name!r} is constant ({power[0]:g} W in all {len(power)} rows): "
            "there is nothing for a model to explain (wrong column?)"
        )
    nonpos = power <= 0
    if not nonpos.any():
        return table
    first = int(np.flatnonzero(nonpos)[0])
    summary = (
        f"power column {name!r} has {int(nonpos.sum())} value(s) <= 0 (first at {table.where(first)}: "
        f"{power[first]:g} W); percentage errors are undefined there"
    )
    if policy == "refuse":
        raise TraceError(summary)
    warnings.warn(summary + "; those rows were dropped", InputWarning, stacklevel=3)
    return _drop_rows(table, ~nonpos)


def _drop_rows(table: PowerTable, keep: np.ndarray) -> PowerTable:
    """Keep rows; a removed row breaks the window sequence, so a new segment starts after each gap."""
    if not keep.any():
        raise TraceError("no valid row left to fit")
    table = table.subset(keep)
    gap = np.ones(len(table), dtype=bool)
    gap[1:] = (np.diff(table.source_row) != 1) | (np.diff(table.source_file) != 0) | (np.diff(table.segment) != 0)
    table.segment = np.cumsum(gap) - 1
    return table
