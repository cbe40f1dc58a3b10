"""Turn fusegov traces, ARMPM tab-separated logs and mapped CSV files into one `PowerTable`.

Everything downstream (features, selection, models) sees only a `PowerTable`, so a new input format is one
loader here. Loaders validate early and name the file, row and column of a problem: a bad value must never
reach a regression silently. A malformed file raises `TraceError`; a mapping that does not fit the file
raises `PowerModelError` naming the options that fix it. Columns picked as counters by default (no
`--counters`) pass the guards of `guards.py`: identifiers, constants, columns that leak the target and
columns whose name says they are something else are left out, and the notes say so.
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
from powermodel import guards
from powermodel.errors import PowerModelError
from powermodel.options import BAD_VALUE_POLICIES, COUNTER_KINDS, FORMATS, FREQ_UNITS, TIME_UNITS

# A time step this many times the file's median interval starts a new contiguous segment.
GAP_FACTOR = 3.0
# Utilisation columns whose maximum exceeds this are percentages; up to it, busy fractions (perhaps summed
# over cores, which --util-cores divides out).
UTIL_PERCENT_ABOVE = 5.0
# Columns named like a count of active cores, online CPUs or threads: states, not event counts (ARMPM's
# multi-core logs carry `Cores(#)`).
STATE_NAME = (
    r"^(active[ _]?)?cores?\s*\(#\)$|^threads?\s*\(#\)$|cores?[ _]?(online|active)|(online|active)[ _]?(cpus?|cores?)"
)


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
    states: list[str] | None = None  # state columns (active cores, online CPUs): values, never rates
    util_cores: str | None = None  # divide utilisation by this column, or by this number of cores
    util_unit: str | None = None  # "pct" | "fraction"; None: guessed from the values

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict | None) -> ColumnMapping:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PowerModelError(f"unknown column-mapping keys: {sorted(unknown)}")
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
    states: pd.DataFrame | None = None  # state columns as read (active cores, ...), one row per sample
    util_cores: np.ndarray | None = None  # active cores per row, to turn summed utilisation into 0..1
    notes: list[str] = field(default_factory=list)  # what ingest decided, for the user (printed by the CLI)

    def __len__(self) -> int:
        return len(self.power_w)

    @property
    def counter_names(self) -> list[str]:
        return [str(c) for c in self.counters.columns]

    @property
    def state_names(self) -> list[str]:
        return [] if self.states is None else [str(c) for c in self.states.columns]

    def subset(self, mask: np.ndarray) -> PowerTable:
        """Rows selected by a boolean mask or an integer index."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self,
            counters=self.counters.iloc[idx].reset_index(drop=True),
            states=None if self.states is None else self.states.iloc[idx].reset_index(drop=True),
            util_cores=take(self.util_cores),
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
            first = handle.readline(64 * 1024)
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc.strerror or exc})") from exc
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
        raise PowerModelError("no input files given")
    if fmt not in FORMATS:
        raise PowerModelError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if bad_values not in BAD_VALUE_POLICIES:
        raise PowerModelError(f"unknown bad-value policy {bad_values!r} (choose from drop, refuse)")
    mapping = mapping or ColumnMapping()
    if mapping.counter_kind is not None and mapping.counter_kind not in COUNTER_KINDS:
        raise PowerModelError(f"unknown counter kind {mapping.counter_kind!r} (choose from {', '.join(COUNTER_KINDS)})")
    tables = []
    for index, path in enumerate(paths):
        if not Path(path).exists():
            raise TraceError(f"{path}: no such file or directory")
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
        counters=mapping.counters or [trace.PMC_PREFIX + "*"],
        counter_kind=mapping.counter_kind or "delta",
        volt=default(mapping.volt, [trace.volt_col(rail)]),
        temp=default(mapping.temp, temp_zones),
        time=default(mapping.time, ["t_s"]),
        time_unit=mapping.time_unit or "s",
        util=default(mapping.util, [trace.util_col(rail)]),
        cycles_counter=mapping.cycles_counter,
        interval_s=mapping.interval_s or meta.get("period_s"),
        states=mapping.states,
        util_cores=mapping.util_cores,
        util_unit=mapping.util_unit or "pct",  # util.<knob>_pct: percent by the trace schema
    )
    if resolved.freq is None:
        raise PowerModelError(f"{path}: no frequency column {trace.freq_col(rail)}; give --freq-col COL")
    breaks = None
    if "seq" in frame.columns:
        seq = pd.to_numeric(frame["seq"], errors="coerce").to_numpy(float)
        breaks = np.r_[True, np.diff(seq) != 1]
    if "run" in frame.columns:  # a dataset directory's run= partition: each run is its own sequence
        runs = frame["run"].astype(str).to_numpy()
        run_breaks = np.r_[True, runs[1:] != runs[:-1]]
        breaks = run_breaks if breaks is None else breaks | run_breaks
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
    "state": STATE_NAME,
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
            raise PowerModelError(f"{path}: several {key} columns {hits}; choose one with --{key}-col")
        if not hits and required:
            option = "--target" if key == "power" else f"--{key}-col"
            raise PowerModelError(
                f"{path}: no {key} column (looked for /{ARMPM_PATTERNS[key]}/ in the header); give {option} COL"
            )
        return hits[0] if hits else None

    power = pick("power", mapping.power, True)
    freq = pick("freq", mapping.freq, True)
    group = pick("group", mapping.group, True)
    time = pick("time", mapping.time, False)
    volt = pick("volt", mapping.volt, False)
    temp = pick("temp", mapping.temp, False)
    states = mapping.states if mapping.states is not None else found["state"]
    context = {c for hits in found.values() for c in hits} | {power, freq, group, time, volt, temp} | set(states)
    counters = mapping.counters
    notes: list[str] = []
    if not counters:
        counters = [c for c in frame.columns if c not in context and pd.api.types.is_numeric_dtype(frame[c])]
    cycles = mapping.cycles_counter or ("CPU_CYCLES" if "CPU_CYCLES" in frame.columns else None)
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
        cycles_counter=cycles,
        interval_s=mapping.interval_s,
        states=states,
        # cycles counted on every active core: divided by the number of cores, the utilisation is 0..1
        util_cores=mapping.util_cores
        or (states[0] if len(states) == 1 and re.search(r"core", states[0], re.I) else None),
        util_unit=mapping.util_unit,
    )
    if states and mapping.states is None:
        notes.append(f"state column(s) {', '.join(states)} enter as states, not rates (ARMPM layout)")
    breaks = None
    run = found["run"]
    if run:
        runs = frame[run[0]].to_numpy()
        breaks = np.r_[True, runs[1:] != runs[:-1]]
    table = _build(frame, path, resolved, "armpm", {}, extra_breaks=breaks, guard=not mapping.counters)
    table.target = power
    table.notes = notes + table.notes
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
        shown = ", ".join(map(str, frame.columns[:12])) + (" ..." if frame.shape[1] > 12 else "")
        raise PowerModelError(
            f"{path}: a plain CSV needs a column mapping; give {', '.join(missing)} (columns: {shown}), "
            "or --format fusegov/armpm if the file is in one of those layouts"
        )
    context = {
        mapping.power,
        mapping.freq,
        mapping.group,
        mapping.volt,
        mapping.temp,
        mapping.time,
        mapping.util,
        *(mapping.states or []),
    }
    if mapping.util_cores and mapping.util_cores in frame.columns:
        context.add(mapping.util_cores)
    counters = mapping.counters or [
        c for c in frame.columns if c not in context and pd.api.types.is_numeric_dtype(frame[c])
    ]
    resolved = replace(
        mapping,
        counters=counters,
        counter_kind=mapping.counter_kind or "delta",
        freq_unit=mapping.freq_unit or "hz",
        time_unit=mapping.time_unit or "s",
        states=mapping.states or [],
    )
    table = _build(frame, path, resolved, "csv", {}, guard=not mapping.counters, by_name=True)
    table.target = mapping.power
    return table


# ------------------------------------------------------------------------------------------------ building
def _build(
    frame: pd.DataFrame,
    path: Path,
    m: ColumnMapping,
    fmt: str,
    meta: dict,
    extra_breaks: np.ndarray | None = None,
    guard: bool = False,
    by_name: bool = False,
) -> PowerTable:
    """Common part of every loader: resolve columns, convert units, find segments and intervals; with `guard`,
    leave suspect default counters out (see guards.py), and say so."""
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
    for col in m.states or []:
        _require(frame, path, col, "--state-cols")
    if m.freq_unit not in FREQ_UNITS:
        raise PowerModelError(f"unknown frequency unit {m.freq_unit!r} (choose from {', '.join(FREQ_UNITS)})")
    if m.time_unit not in TIME_UNITS:
        raise PowerModelError(f"unknown time unit {m.time_unit!r} (choose from {', '.join(TIME_UNITS)})")
    counter_cols = resolve_counters(list(map(str, frame.columns)), m.counters or [], path)
    overlap = sorted(set(counter_cols) & set(m.states or []))
    if overlap:
        raise PowerModelError(f"{path}: column(s) {', '.join(overlap)} given both as counters and as --state-cols")
    if m.cycles_counter is not None and m.cycles_counter not in counter_cols:
        if m.cycles_counter in frame.columns:
            counter_cols.append(m.cycles_counter)
        else:
            raise PowerModelError(_unknown(path, m.cycles_counter, "cycles counter", frame.columns, "--cycles-counter"))
    n = len(frame)
    if n == 0:
        raise TraceError(f"{path}: no data rows")
    if not counter_cols:
        raise PowerModelError(
            f"{path}: no counter columns; name them with --counters 'a,b,prefix*' (numeric columns of the file)"
        )

    power = _numeric(frame, m.power, path)
    raw_freq = _numeric(frame, m.freq, path)
    freq = raw_freq * FREQ_UNITS[m.freq_unit]
    group = frame[m.group].astype(str).to_numpy()
    volt = _numeric(frame, m.volt, path) if m.volt else None
    temp = _numeric(frame, m.temp, path) if m.temp else None
    notes: list[str] = []
    hint = guards.frequency_unit_hint(raw_freq, m.freq_unit)
    if hint:
        lo, hi = np.nanmin(freq), np.nanmax(freq)
        fix = f"give --freq-unit {hint}" if hint != "?" else "check --freq-col and --freq-unit"
        warnings.warn(
            f"{path}: frequency column {m.freq!r} spans {lo:.4g}..{hi:.4g} Hz read as {m.freq_unit}; no processor "
            f"clock runs there, {fix}",
            InputWarning,
            stacklevel=3,
        )
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

    if guard:
        counter_cols = _guard_counters(frame, counter_cols, m, power, interval, segment, path, by_name, notes)
    counters = pd.DataFrame(_numeric_block(frame, counter_cols, path), columns=counter_cols, copy=False)
    states = pd.DataFrame({c: _numeric(frame, c, path) for c in m.states or []}, index=pd.RangeIndex(n))
    cores = _cores(frame, m, path)
    util = _utilisation(frame, m, path, cores) if m.util else None
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
        mapping=replace(m, counters=counter_cols),
        meta=meta,
        states=states,
        util_cores=cores,
        notes=notes,
    )


def _guard_counters(
    frame: pd.DataFrame,
    cols: list[str],
    m: ColumnMapping,
    power: np.ndarray,
    interval: np.ndarray | None,
    segment: np.ndarray,
    path: Path,
    by_name: bool,
    notes: list[str],
) -> list[str]:
    """Default counters minus identifiers and target leaks; for a plain CSV (`by_name`) also constant columns
    and columns named like something else. (A constant column of a counter log is a counter that did not fire:
    it stays in the count of available counters, and selection screens it out.)"""
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(frame[c])]
    suspects: dict[str, str] = {}
    if by_name:
        mapped = {"--temp-col": m.temp, "--volt-col": m.volt, "--util-col": m.util, "--time-col": m.time}
        suspects.update(guards.named_context(numeric, {**mapped, "--freq-col": m.freq}))
        suspects.update(guards.constant_columns(frame, [c for c in numeric if c not in suspects]))
    rest = [c for c in numeric if c not in suspects]
    ids = guards.identifier_columns(frame, rest, segment, cumulative=m.counter_kind == "total")
    if len(ids) > len(rest) / 2 and len(rest) >= 4 and m.counter_kind != "total":
        raise PowerModelError(
            f"{path}: {len(ids)} of {len(rest)} counter columns rise in nearly every row ({', '.join(list(ids)[:4])}"
            "...): they look like cumulative totals; give --counter-kind total (or --counters to name the "
            "per-interval counters)"
        )
    suspects.update(ids)
    rest = [c for c in rest if c not in suspects]
    suspects.update(guards.target_leaks(frame, rest, power, interval, segment))
    kept = [c for c in cols if c not in suspects]
    if suspects:
        warnings.warn(
            f"{path}: {len(suspects)} column(s) left out of the counters: "
            + "; ".join(f"{c}: {why}" for c, why in suspects.items())
            + " (name the counters with --counters to decide yourself)",
            InputWarning,
            stacklevel=4,
        )
    if by_name:
        states = guards.state_like(frame, [c for c in kept if c != m.cycles_counter])
        if states:
            warnings.warn(
                f"{path}: "
                + "; ".join(f"column {c} {why}" for c, why in states.items())
                + ": if it is a state such as active cores, give --state-cols "
                + ",".join(states)
                + " (it enters as a value, not a rate)",
                InputWarning,
                stacklevel=4,
            )
        shown = ", ".join(kept[:40]) + (f" ... ({len(kept)} in all)" if len(kept) > 40 else "")
        notes.append(f"counters ({len(kept)}): {shown}")
    if not kept:
        raise PowerModelError(
            f"{path}: every candidate counter column was left out (see the warning); name the counters with "
            "--counters 'a,b,prefix*'"
        )
    return kept


def _utilisation(frame: pd.DataFrame, m: ColumnMapping, path: Path, cores: np.ndarray | None) -> np.ndarray:
    """The utilisation column as a busy fraction (summed over cores when `cores` is given): --util-unit, or
    percent when its values exceed UTIL_PERCENT_ABOVE (times the cores) and a fraction otherwise."""
    util = _numeric(frame, m.util, path)
    limit = UTIL_PERCENT_ABOVE * (1.0 if cores is None else float(np.nanmax(cores)))
    unit = m.util_unit or ("pct" if np.nanmax(util) > limit else "fraction")
    return util / 100.0 if unit == "pct" else util


def _cores(frame: pd.DataFrame, m: ColumnMapping, path: Path) -> np.ndarray | None:
    """Active cores per row for --util-cores: a column, or one number for every row."""
    if m.util_cores is None:
        return None
    if m.util_cores in frame.columns:
        cores = _numeric(frame, m.util_cores, path)
    else:
        try:
            cores = np.full(len(frame), float(m.util_cores))
        except ValueError:
            raise PowerModelError(
                _unknown(path, m.util_cores, "column or number of cores", frame.columns, "--util-cores")
            ) from None
    finite = cores[np.isfinite(cores)]
    if not finite.size or finite.min() <= 0:
        raise PowerModelError(f"{path}: --util-cores {m.util_cores}: the number of cores must be > 0 in every row")
    return cores


def resolve_counters(columns: list[str], patterns: list[str], path: Path | str = "input") -> list[str]:
    """Expand counter names and glob patterns against a header; an unknown name is an error."""
    out: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
            if not hits:
                raise PowerModelError(f"{path}: counter pattern {pattern!r} (from --counters) matches no column")
        elif pattern in columns:
            hits = [pattern]
        else:
            raise PowerModelError(_unknown(path, pattern, "counter", columns, "--counters"))
        out.extend(h for h in hits if h not in out)
    return out


def _unknown(path, name: str, what: str, columns, option: str = "") -> str:
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    given = f", given with {option}" if option else ""
    return f"{path}: unknown {what} {name!r} (not a column of the file{given}){hint}"


def _require(frame: pd.DataFrame, path: Path, col: str, option: str) -> None:
    if col not in frame.columns:
        raise PowerModelError(_unknown(path, col, "column", frame.columns, option))


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
        raise PowerModelError("the input files have no counter in common; give --counters naming shared columns")
    offsets = np.cumsum([0] + [int(t.segment.max()) + 1 for t in tables[:-1]])

    def cat(name: str):
        parts = [getattr(t, name) for t in tables]
        if any(p is None for p in parts):
            return None
        return np.concatenate(parts)

    kinds = {t.counter_kind for t in tables}
    if len(kinds) > 1:
        raise PowerModelError(
            f"inputs mix counter kinds {sorted(kinds)}; fit them separately, or give --counter-kind for all of them"
        )
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
        states=_concat_states(tables),
        util_cores=cat("util_cores"),
        notes=list(dict.fromkeys(note for t in tables for note in t.notes)),
    )


def _concat_states(tables: list[PowerTable]) -> pd.DataFrame:
    common = [c for c in tables[0].state_names if all(c in t.state_names for t in tables[1:])]
    dropped = sorted({c for t in tables for c in t.state_names} - set(common))
    if dropped:
        warnings.warn(
            f"state columns not present in every input were dropped: {', '.join(dropped)}", InputWarning, stacklevel=4
        )
    return pd.concat([t.states[common] for t in tables], ignore_index=True)


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
    if table.states is not None:
        columns.update({c: table.states[c].to_numpy(dtype=float) for c in table.state_names})
    if table.util_cores is not None:
        columns[table.mapping.util_cores or "cores"] = table.util_cores
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
        raise PowerModelError(
            f"power column {name!r} is constant ({power[0]:g} W in all {len(power)} rows): "
            "there is nothing for a model to explain (wrong column? give --target COL)"
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
        raise TraceError(summary + " (use --bad-values drop to drop those rows)")
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
