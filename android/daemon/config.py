"""Plan(s) + what `fusegov probe` found -> the daemon's configuration (config.json).

Plans are the governor's (governor/plan.py is the one definition of the format: `load_plan` validates a
file, `check_device` refuses a plan made for another phone, whose knobs or tables differ from this one's).
The daemon carries no SoC knowledge and no unit conversion: for each knob the plans pin, the config holds
its sysfs files and its table in the files' own unit, and every setting is already in that unit
(android.units does the conversion, here, once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from android.daemon.errors import DaemonError
from android.soc.records import DeviceInfo, FreqControl
from android.units import to_native

if TYPE_CHECKING:
    from governor.plan import Plan

CONFIG_FORMAT = "fusegov.daemon-config"
CONFIG_VERSION = 2  # 2: the plans' cooler settings and the zones' passive trips (`heat`)
OPTION_OF = {
    "limit_c": "--thermal-limit",
    "hysteresis_c": "--hysteresis",
    "period_s": "--thermal-period",
    "watchdog_s": "--watchdog",
}


@dataclass(frozen=True)
class GuardOptions:
    """The daemon's safety settings (CLI options of `fusegov deploy`)."""

    limit_c: float = 80.0
    hysteresis_c: float = 5.0
    period_s: float = 1.0
    zones: tuple[str, ...] = ()  # zone types to guard; empty: every zone on a component the plans pin
    watchdog_s: float = 30.0
    log_max_bytes: int = 1 << 20

    def check(self) -> None:
        for name, option in OPTION_OF.items():
            value = getattr(self, name)
            if not (value > 0 and value != float("inf")):
                raise DaemonError(f"{option}: must be a positive finite number, got {value}")
        if self.hysteresis_c >= self.limit_c:
            raise DaemonError(f"--hysteresis {self.hysteresis_c} must be below --thermal-limit {self.limit_c}")


def check_plan_device(plan: Plan, info: DeviceInfo) -> None:
    """Refuse a plan made for another phone (governor.plan.check_device: the same knobs, the same tables)."""
    from governor.errors import GovernorError
    from governor.plan import check_device
    from governor.space import ConfigSpace

    try:
        check_device(plan, ConfigSpace.from_device(info))
    except GovernorError as exc:
        raise DaemonError(f"{plan.source}: {exc}") from None


def plan_knobs(plan: Plan) -> list[str]:
    """The knobs some phase of the plan pins, at any heat level."""
    return sorted(
        {knob for phase in plan.phases for level in range(len(phase.cooler) + 1) for knob in plan.pins(phase, level)}
    )


def _check_model_name(plan: Plan) -> None:
    """Hints name a plan by its model (`decode model=NAME`): one word without '='."""
    if not plan.model or any(c.isspace() or c == "=" for c in plan.model):
        raise DaemonError(
            f"{plan.source}: model {plan.model!r} cannot be named in a hint (no spaces or '='): "
            "make the plan with --model NAME"
        )


def _knob_entry(control: FreqControl) -> dict[str, Any]:
    return {
        "directory": control.directory,
        "min_file": control.min_file,
        "max_file": control.max_file,
        "governor_file": control.governor_file,
        "unit": control.unit,
        "table": sorted({to_native(f, control.unit) for f in control.table_hz}),
    }


def _native(setting_hz: dict[str, int], knobs: dict[str, FreqControl]) -> dict[str, int]:
    return {knob: to_native(freq_hz, knobs[knob].unit) for knob, freq_hz in sorted(setting_hz.items())}


def build_config(plans: list[Plan], info: DeviceInfo, guard: GuardOptions | None = None) -> dict[str, Any]:
    """The daemon's configuration for these plans on this phone (the first plan's model is the default).
    A prefill of more tokens than the last bucket covers takes the last bucket (the plan's rule)."""
    guard = guard or GuardOptions()
    guard.check()
    if not plans:
        raise DaemonError("deploy needs at least one plan")
    models = [p.model for p in plans]
    duplicated = sorted({m for m in models if models.count(m) > 1})
    if duplicated:
        raise DaemonError(f"two plans for model {duplicated[0]!r}: give one plan per model")
    for plan in plans:
        _check_model_name(plan)
        check_plan_device(plan, info)
    controls = info.knobs
    used = sorted({k for plan in plans for k in plan_knobs(plan)})
    if not used:
        names = ", ".join(plan.source for plan in plans)
        raise DaemonError(f"{names}: every phase keeps the stock governors (the plan pins no knob): nothing to deploy")
    config_plans = {}
    for plan in plans:
        phases: dict[str, Any] = {"prefill": []}
        cooler: dict[str, Any] = {}  # per phase its rungs, hottest first; prefill: per bucket
        for p in plan.phases:
            setting = _native(plan.pins(p), controls)
            rungs = [_native(plan.pins(p, level), controls) for level in range(1, len(p.cooler) + 1)]
            if p.phase == "prefill":
                phases["prefill"].append({"max_tokens": p.max_prompt_tokens, "setting": setting})
                cooler.setdefault("prefill", []).append(rungs)
            else:
                phases[p.phase], cooler[p.phase] = setting, rungs
        if plan.levels:
            phases["cooler"] = cooler
        config_plans[plan.model] = phases
    return {
        "format": CONFIG_FORMAT,
        "version": CONFIG_VERSION,
        "device": {"name": info.name, "model": info.model, "soc": info.soc},
        "knobs": {knob: _knob_entry(controls[knob]) for knob in used},
        "plans": config_plans,
        "default_model": plans[0].model,
        "thermal": {
            "zones": _guarded_zones(info, used, guard.zones),
            "limit_c": guard.limit_c,
            "hysteresis_c": guard.hysteresis_c,
            "period_s": guard.period_s,
        },
        "heat": {"trips": _trips(info) if any(plan.levels for plan in plans) else []},
        "watchdog_s": guard.watchdog_s,
        "log_max_bytes": guard.log_max_bytes,
    }


def _trips(info: DeviceInfo) -> list[dict[str, Any]]:
    """Every throttling trip the probe found (android.soc.thermal): where the daemon steps a plan to its cooler
    settings (governor.heat)."""
    return [
        {"zone": z.type, "temp_file": z.temp_file, "temp_c": temp, "hysteresis_c": hysteresis}
        for z in info.zones
        for temp, hysteresis in z.trips
    ]


def _guarded_zones(info: DeviceInfo, used: list[str], names: tuple[str, ...]) -> dict[str, str]:
    zones = {z.type: z.temp_file for z in info.zones}
    if names:
        missing = [n for n in names if n not in zones]
        if missing:
            raise DaemonError(f"--thermal-zones: no zone {missing[0]!r} on this phone (zones: {', '.join(zones)})")
        return {n: zones[n] for n in names}
    guarded = {z.type: z.temp_file for z in info.zones if z.component in used}
    if not guarded:
        guarded = {z.type: z.temp_file for z in info.zones if z.component in info.knobs}
    if not guarded:
        raise DaemonError(
            f"{info.name}: no thermal zone on a component the plan pins; name zones with --thermal-zones "
            f"(zones: {', '.join(zones) or 'none'})"
        )
    return guarded
