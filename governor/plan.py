"""Plans: the versioned JSON file a search writes and the on-phone daemon reads.

Schema (`"format": "fusegov.plan"`, `"version": 3`; versions 1 (without `vs_stock` and `goal.judged`) and 2
(without `cooler`) still load); frequencies in Hz everywhere:

    {
      "format": "fusegov.plan", "version": 3,
      "device": {"name": str, "soc": str, "family": str, "profile": str (virtual phone only),
                 "knobs": {KNOB: [Hz, ...ascending table]}},      # a plan from another phone is detected
      "model": str,                                                # LLM name/file or cnn:NAME
      "goal": {"goal": "latency", "budget": "stock"|"0.35"|"90%", "energy_budget_j": {BUCKET: J}, ...}
            | {"goal": "energy", "target": "stock"|"8,0.15"|"90%", "latency_target_s": {BUCKET: s}, ...},
                                                                   # ... "judged": "paired"|"absolute",
                                                                   #     "confidence": float (goals.Goal)
      "search": {"name": str, "measurements": int, "rung_measurements": int (of them, for cooler rungs),
                 "runs_by_purpose": {"stock"|"design"|"side"|"search"|"rung": int, "repeats": int}
                                                                   # where the runs went (lab.PURPOSES; repeats:
                                                                   # of the search's runs, a setting's after its
                                                                   # first); absent in plans before it
                 "device_time_s": float, "wall_s": float},
      "phases": [                                                  # prefill buckets ascending, then decode / cnn
        {"phase": "prefill"|"decode"|"cnn", "bucket": str,
         "max_prompt_tokens": int|null,                            # prefill: serves prompts up to this length
         "setting": {KNOB: Hz|null},                               # absent or null: left to its stock governor
         "expected": {"latency_s": float, "energy_per_token_j": float},
         "stock": {"latency_s": float, "energy_per_token_j": float},
         "vs_stock": {"latency_s": float, "energy_per_token_j": float} | null,  # mean ratio to stock's run
                                                                   # of the same seed (goals: the paired rule)
         "met": bool,                                              # false: nothing met the goal; closest kept
         "cooler": [{"setting": {...}, "expected": {...}, "vs_stock": {...}}, ...]}
                                                                   # the phase at heat levels 1, 2, ...: measured
                                                                   # settings meeting the goal at no more power
                                                                   # than the level above (a repeat when the
                                                                   # phase has nothing cheaper at that level's
                                                                   # price), hottest first (may be empty)
      ],
      "notes": [str]
    }

Latency is TTFT (prefill), TPOT (decode) or time per inference (cnn), as measured at the bucket's
representative length; energy per token is per prompt token, per decode token or per inference.

How a runtime uses it: on a prefill of N prompt tokens take the first prefill phase whose
max_prompt_tokens >= N (the last one if none); on decode the decode phase; pin every knob with a number
(min = max), release the others to their governors. On a hot phone it may pin a phase's `cooler` rungs
instead (governor.heat says which, from the thermal zones' trips). `load_plan` validates a file and names the bad field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from governor.errors import GovernorError
from governor.lab import RUNG
from governor.space import STOCK

PLAN_FORMAT = "fusegov.plan"
PLAN_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
PHASE_KINDS = ("prefill", "decode", "cnn")


@dataclass(frozen=True)
class Expected:
    latency_s: float
    energy_per_token_j: float


@dataclass(frozen=True)
class Rung:
    """A phase's setting at one heat level: it meets the plan's goal at no more power than the level above
    (governor.heat; the same setting again when the phase has nothing cheaper at that level's price)."""

    setting: dict[str, int | None]
    expected: Expected
    vs_stock: Expected


@dataclass(frozen=True)
class PlanPhase:
    phase: str
    bucket: str
    max_prompt_tokens: int | None
    setting: dict[str, int | None]
    expected: Expected
    stock: Expected
    met: bool
    vs_stock: Expected | None = None  # paired ratios to stock (version 2); None in a version-1 plan
    cooler: tuple[Rung, ...] = ()  # hottest first (version 3)

    def rung(self, level: int) -> dict[str, int | None]:
        """The setting at a heat level: 0 the phase's own, k its k-th cooler rung (the coolest beyond)."""
        if level <= 0 or not self.cooler:
            return self.setting
        return self.cooler[min(level, len(self.cooler)) - 1].setting


@dataclass
class Plan:
    device: dict[str, Any]
    model: str
    goal: dict[str, Any]
    search: dict[str, Any]
    phases: list[PlanPhase]
    notes: list[str] = field(default_factory=list)
    source: str = field(default="plan", compare=False, repr=False)  # the file it was read from (messages)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, **data}

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    def phase_for_prompt(self, prompt_tokens: int) -> PlanPhase:
        prefill = [p for p in self.phases if p.phase == "prefill"]
        if not prefill:
            raise GovernorError("the plan has no prefill phase")
        return next((p for p in prefill if prompt_tokens <= (p.max_prompt_tokens or 0)), prefill[-1])

    def phase(self, kind: str) -> PlanPhase:
        found = next((p for p in self.phases if p.phase == kind), None)
        if found is None:
            raise GovernorError(f"the plan has no {kind} phase")
        return found

    def pins(self, phase: PlanPhase, level: int = 0) -> dict[str, int]:
        """The knobs to pin for a phase at a heat level (`PlanPhase.rung`), in Hz."""
        return {k: v for k, v in phase.rung(level).items() if v is not None}

    @property
    def levels(self) -> int:
        """The deepest heat level any phase has a rung for (0: no cooler rungs)."""
        return max((len(p.cooler) for p in self.phases), default=0)

    @property
    def met(self) -> bool:
        return all(p.met for p in self.phases)


def build_plan(measurer, model, buckets, goal, search, choices, lab, wall_s, notes) -> Plan:
    def paired(obs) -> Expected:
        return Expected(*(float(goal.paired(obs, f).mean()) for f in ("latency_s", "energy_per_token_j")))

    phases = []
    for bucket in buckets:
        choice = choices[bucket.name]
        obs, stock = choice.observation, lab.known(STOCK, bucket.name)
        phases.append(
            PlanPhase(
                bucket.kind,
                bucket.name,
                bucket.max_prompt_tokens,
                dict(obs.setting.pins),
                Expected(obs.latency_s, obs.energy_per_token_j),
                Expected(stock.latency_s, stock.energy_per_token_j),
                choice.met,
                paired(obs),
                tuple(
                    Rung(dict(r.setting.pins), Expected(r.latency_s, r.energy_per_token_j), paired(r))
                    for r in choice.cooler
                ),
            )
        )
        if not choice.met:
            notes = [*notes, f"{bucket.name}: no setting measured meets the goal; the plan keeps the closest one"]
    device = {**measurer.device, "knobs": measurer.space.tables()}
    search_info = {
        "name": search,
        "measurements": lab.measurements,
        "rung_measurements": lab.spent(RUNG),
        "runs_by_purpose": lab.spending(),
        "device_time_s": round(lab.device_time_s, 3),
        "wall_s": round(wall_s, 3),
    }
    return Plan(device, model, goal.describe(), search_info, phases, list(notes))


# --- loading and validation ------------------------------------------------------------------------
def _need(data: dict, key: str, kind, where: str):
    if key not in data:
        raise GovernorError(f"plan: field {where}{key} is missing")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise GovernorError(f"plan: field {where}{key} must be {_names(kinds)}, got {value!r}")
    if not isinstance(value, kinds):
        raise GovernorError(f"plan: field {where}{key} must be {_names(kinds)}, got {value!r}")
    return value


def _names(kinds) -> str:
    return " or ".join(
        {
            dict: "an object",
            list: "a list",
            str: "a string",
            int: "an integer",
            float: "a number",
            bool: "true/false",
            type(None): "null",
        }[k]
        for k in kinds
    )


def _expected(data: dict, where: str) -> Expected:
    latency = _need(data, "latency_s", (int, float), where)
    energy = _need(data, "energy_per_token_j", (int, float), where)
    if not (latency > 0 and energy > 0):
        raise GovernorError(f"plan: field {where}latency_s and energy_per_token_j must be positive numbers")
    return Expected(float(latency), float(energy))


def _setting(data: dict, knobs: dict, where: str) -> dict[str, int | None]:
    setting = _need(data, "setting", dict, where)
    for knob, freq in setting.items():
        if knob not in knobs:
            raise GovernorError(f"plan: field {where}setting.{knob}: no such knob in device.knobs")
        if freq is not None and freq not in knobs[knob]:
            raise GovernorError(f"plan: field {where}setting.{knob}: {freq!r} Hz is not in device.knobs.{knob}")
    return dict(setting)


def plan_from_dict(data: Any, source: str = "plan") -> Plan:
    if not isinstance(data, dict):
        raise GovernorError("plan: must be a JSON object")
    if data.get("format") != PLAN_FORMAT:
        raise GovernorError(f"plan: field format must be {PLAN_FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise GovernorError(
            f"plan: field version must be one of {', '.join(map(str, READABLE_VERSIONS))}, got {version!r}"
        )
    device = _need(data, "device", dict, "")
    for key in ("name", "soc", "family"):
        _need(device, key, str, "device.")
    knobs = _need(device, "knobs", dict, "device.")
    for knob, table in knobs.items():
        if (
            not isinstance(table, list)
            or not table
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in table)
        ):
            raise GovernorError(f"plan: field device.knobs.{knob} must be a non-empty list of frequencies in Hz")
    model = _need(data, "model", str, "")
    goal = _need(data, "goal", dict, "")
    if _need(goal, "goal", str, "goal.") not in ("latency", "energy"):
        raise GovernorError(f"plan: field goal.goal must be 'latency' or 'energy', got {goal['goal']!r}")
    search = _need(data, "search", dict, "")
    _need(search, "name", str, "search.")
    _need(search, "measurements", int, "search.")
    raw_phases = _need(data, "phases", list, "")
    if not raw_phases:
        raise GovernorError("plan: field phases must list at least one phase")
    phases = []
    for i, raw in enumerate(raw_phases):
        where = f"phases[{i}]."
        if not isinstance(raw, dict):
            raise GovernorError(f"plan: field phases[{i}] must be an object")
        kind = _need(raw, "phase", str, where)
        if kind not in PHASE_KINDS:
            raise GovernorError(f"plan: field {where}phase must be one of {', '.join(PHASE_KINDS)}, got {kind!r}")
        bucket = _need(raw, "bucket", str, where)
        limit = raw.get("max_prompt_tokens")
        if kind == "prefill" and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise GovernorError(f"plan: field {where}max_prompt_tokens must be a positive integer for a prefill phase")
        setting = _setting(raw, knobs, where)
        raw_cooler = raw.get("cooler", [])
        if not isinstance(raw_cooler, (list, tuple)):  # a list in JSON, a tuple from Plan.to_dict
            raise GovernorError(f"plan: field {where}cooler must be a list")
        cooler = []
        for j, rung in enumerate(raw_cooler):
            at = f"{where}cooler[{j}]."
            if not isinstance(rung, dict):
                raise GovernorError(f"plan: field {where}cooler[{j}] must be an object")
            cooler.append(
                Rung(
                    _setting(rung, knobs, at),
                    _expected(_need(rung, "expected", dict, at), f"{at}expected."),
                    _expected(_need(rung, "vs_stock", dict, at), f"{at}vs_stock."),
                )
            )
        phases.append(
            PlanPhase(
                kind,
                bucket,
                limit if kind == "prefill" else None,
                setting,
                _expected(_need(raw, "expected", dict, where), f"{where}expected."),
                _expected(_need(raw, "stock", dict, where), f"{where}stock."),
                bool(_need(raw, "met", bool, where)),
                None
                if raw.get("vs_stock") is None
                else _expected(_need(raw, "vs_stock", dict, where), f"{where}vs_stock."),
                tuple(cooler),
            )
        )
    limits = [p.max_prompt_tokens for p in phases if p.phase == "prefill"]
    if limits != sorted(limits):
        raise GovernorError("plan: field phases: prefill phases must be in ascending max_prompt_tokens")
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise GovernorError("plan: field notes must be a list of strings")
    return Plan(dict(device), model, dict(goal), dict(search), phases, list(notes), source)


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GovernorError(f"plan {path}: no such file (make one with `fusegov plan`)") from None
    except OSError as exc:
        raise GovernorError(f"plan {path}: cannot read it: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GovernorError(f"plan {path}: not valid JSON: {exc}") from None
    return plan_from_dict(data, str(path))


def check_device(plan: Plan, space) -> None:
    """A plan made on another phone (other knobs or tables) must not be applied here."""
    here = space.tables()
    there = {k: list(v) for k, v in plan.device["knobs"].items()}
    made_for = f"{plan.device['name']} ({plan.device['soc']})"
    fix = f"make a plan on this phone: fusegov plan --serial {space.device} (or --virtual)"
    if set(here) != set(there):
        raise GovernorError(
            f"plan was made for {made_for} (knobs {', '.join(sorted(there))}), not for {space.device} "
            f"({space.soc}; knobs {', '.join(sorted(here))}): {fix}"
        )
    for knob, table in here.items():
        if table != there[knob]:
            raise GovernorError(
                f"plan was made for {made_for}: knob {knob} has other frequencies there ({len(there[knob])} "
                f"levels) than on {space.device} ({len(table)} levels): {fix}"
            )
