"""Can this device's knobs be pinned? Checked before any search on a phone, so a non-rooted phone or a
locked knob fails at once with the knob named, not halfway through a search."""

from __future__ import annotations

from android.errors import FusegovError
from governor.errors import GovernorError
from governor.space import ConfigSpace


def check_pinnable(device, info, space: ConfigSpace) -> None:
    """Pin each tunable knob at its top frequency and put it back (android.knobs.pinned); any refusal is a
    GovernorError naming the knob."""
    from android.knobs import KnobController, pinned

    if not device.is_rooted():
        raise GovernorError(
            f"{device.name}: the governor pins frequencies by writing sysfs, which needs root; this device gives "
            "no root shell (root the phone, or use --virtual)"
        )
    controller = KnobController(device, info)
    for knob in space.primary:
        try:
            with pinned(controller, {knob.name: knob.max_hz}):
                pass
        except FusegovError as exc:
            raise GovernorError(f"{device.name}: cannot pin {knob.name}: {exc}") from None
