"""Reading the governor's plans (`"format": "fusegov.plan"`, version 1) as far as deploying needs them.

The daemon never reads a plan: `fusegov deploy` turns plan + probe into the daemon's configuration. This
reader follows the plan outline the governor defines (device with each knob's table in Hz; model; per
phase bucket a setting knob -> Hz, absent or null = left to the stock governor); it checks what deploying
relies on and names the offending field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from android.daemon.errors import DaemonError

PLAN_FORMAT = "fusegov.plan"
PLAN_VERSION = 1
PHASES = ("prefill", "decode", "cnn")


@dataclass(frozen=True)
class PrefillBucket:
    max_prompt_tokens: int | None  # None: no upper bound
    setting_hz: dict[str, int]


@dataclass(frozen=True)
class PlanSpec:
    """One model's plan: which knob to pin at which frequency (Hz) in each phase."""

    source: str
    model: str
    device_model: str
    device_soc: str
    tables_hz: dict[str, tuple[int, ...]]  # the plan's knobs and their tables as the plan's phone had them
    prefill: tuple[PrefillBucket, ...] = ()
    decode_hz: dict[str, int] | None = None
    cnn_hz: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def settings(self) -> list[tuple[str, dict[str, int]]]:
        """(where, setting) for every phase bucket the plan sets."""
        out = [(f"prefill<={b.max_prompt_tokens or 'any'}", b.setting_hz) for b in self.prefill]
        out += [(name, s) for name, s in (("decode", self.decode_hz), ("cnn", self.cnn_hz)) if s is not None]
        return out

    def knobs(self) -> list[str]:
        return sorted({k for _, setting in self.settings() for k in setting})


def load_plan(path: str | Path) -> PlanSpec:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DaemonError(f"plan {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DaemonError(f"plan {path}: cannot read it: {exc}") from None
    except ValueError as exc:
        raise DaemonError(f"plan {path}: not JSON: {exc}") from None
    return parse_plan(data, str(path))


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DaemonError(f"{where}: must be a positive number (Hz or tokens), got {value!r}")
    if value != int(value):
        raise DaemonError(f"{where}: must be a whole number, got {value!r}")
    return int(value)


def _setting(data: Any, tables: dict[str, tuple[int, ...]], where: str) -> dict[str, int]:
    if not isinstance(data, dict):
        raise DaemonError(f"{where}: a setting is an object {{knob: Hz or null}}, got {data!r}")
    setting = {}
    for knob, value in data.items():
        if value is None:
            continue
        if knob not in tables:
            raise DaemonError(f"{where}: knob {knob!r} is not among the plan's device knobs ({', '.join(tables)})")
        freq_hz = _positive_int(value, f"{where}.{knob}")
        if freq_hz not in tables[knob]:
            raise DaemonError(f"{where}.{knob}: {freq_hz} Hz is not in the knob's table in the plan")
        setting[knob] = freq_hz
    return setting


def parse_plan(data: Any, source: str = "plan") -> PlanSpec:
    """Validate a plan document; DaemonError names the field."""
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise DaemonError(
            f'{source}: not a fusegov plan ("format" must be {PLAN_FORMAT!r}; make one with `fusegov plan`)'
        )
    if data.get("version") != PLAN_VERSION:
        raise DaemonError(
            f"{source}: plan version {data.get('version')!r} is not supported (this reads version {PLAN_VERSION})"
        )
    device = data.get("device")
    if not isinstance(device, dict) or not isinstance(device.get("knobs"), dict) or not device["knobs"]:
        raise DaemonError(f"{source}: device.knobs must map each knob to its frequency table in Hz")
    tables: dict[str, tuple[int, ...]] = {}
    for knob, table in device["knobs"].items():
        if isinstance(table, dict):
            table = table.get("table_hz")
        if not isinstance(table, list) or not table:
            raise DaemonError(f"{source}: device.knobs.{knob}: must be a non-empty list of Hz")
        tables[knob] = tuple(sorted(_positive_int(v, f"{source}: device.knobs.{knob}") for v in table))
    model = data.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    if not isinstance(model, str) or not model or any(c.isspace() or c == "=" for c in model):
        raise DaemonError(f"{source}: model must be a name without spaces or '=', got {model!r}")
    phases = data.get("phases")
    if not isinstance(phases, dict):
        raise DaemonError(f"{source}: phases must be an object with prefill, decode and/or cnn")
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise DaemonError(f"{source}: phases.{unknown[0]}: unknown phase (phases: {', '.join(PHASES)})")
    buckets = []
    prefill = phases.get("prefill") or []
    if not isinstance(prefill, list):
        raise DaemonError(f"{source}: phases.prefill must be a list of buckets")
    for k, bucket in enumerate(prefill):
        where = f"{source}: phases.prefill[{k}]"
        if not isinstance(bucket, dict):
            raise DaemonError(f"{where}: must be an object with max_prompt_tokens and setting")
        bound = bucket.get("max_prompt_tokens")
        bound = None if bound is None else _positive_int(bound, f"{where}.max_prompt_tokens")
        buckets.append(PrefillBucket(bound, _setting(bucket.get("setting"), tables, f"{where}.setting")))
    bounds = [b.max_prompt_tokens for b in buckets]
    finite = [b for b in bounds if b is not None]
    if (None in bounds and bounds.index(None) != len(bounds) - 1) or finite != sorted(set(finite)):
        raise DaemonError(
            f"{source}: phases.prefill: buckets must ascend by max_prompt_tokens, each once (only the last may be null)"
        )
    others: dict[str, dict[str, int] | None] = {}
    for phase in ("decode", "cnn"):
        entry = phases.get(phase)
        if entry is None:
            others[phase] = None
            continue
        if not isinstance(entry, dict) or "setting" not in entry:
            raise DaemonError(f"{source}: phases.{phase}: must be an object with a setting")
        others[phase] = _setting(entry["setting"], tables, f"{source}: phases.{phase}.setting")
    if not buckets and others["decode"] is None and others["cnn"] is None:
        raise DaemonError(f"{source}: the plan sets no phase")
    return PlanSpec(
        source=source,
        model=model,
        device_model=str(device.get("model", "")),
        device_soc=str(device.get("soc", "")),
        tables_hz=tables,
        prefill=tuple(buckets),
        decode_hz=others["decode"],
        cnn_hz=others["cnn"],
        extra={k: v for k, v in data.items() if k not in ("format", "version", "device", "model", "phases")},
    )
