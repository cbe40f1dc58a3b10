"""The ODPM channels of a trace: each row's power is the meter's energy over the row's own interval, placed on
the meter's timestamps (collectors.channels.meter_power), so a reading that comes late to its row, or a row
whose read the driver answered from its cache, moves no energy out of where it was spent."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.channels import meter_power
from collectors.runners.llm import program_start
from collectors.runners.timings import LlamaTimings


def _raw(t_s, meter_ms, energy_uws):
    """Sampler rows: seq, t_ns, late, then odpm_ms:dev and rail_uws:dev:0 (NaN: nothing new that row)."""
    n = len(t_s)
    return np.column_stack([np.arange(n), np.asarray(t_s) * 1e9, np.zeros(n), meter_ms, energy_uws])


COL = {"odpm_ms:dev": 3, "rail_uws:dev:0": 4}


def test_energy_lands_in_the_rows_it_was_spent_in_however_late_the_readings():
    # 1 W until t=1.0, 3 W after; rows every 0.1 s; the meter read late (60 ms after each row) and only on
    # every other row (its cache answered the others)
    t_s = np.round(np.arange(0.1, 2.01, 0.1), 6)
    meter_s = t_s + 0.06
    energy_j = np.where(meter_s <= 1.0, meter_s, 1.0 + 3.0 * (meter_s - 1.0))
    fresh = np.arange(len(t_s)) % 2 == 0
    raw = _raw(t_s, np.where(fresh, meter_s * 1e3, np.nan), np.where(fresh, energy_j * 1e6, np.nan))
    watts = meter_power(t_s, raw, COL)["rail_uws:dev:0"]
    inside = np.isfinite(watts)
    assert inside.sum() >= len(t_s) - 3  # only rows outside the first and last reading have none
    # rows wholly inside readings before or after the step read 1 W and 3 W; rows overlapping the reading
    # interval that holds the step (0.96 -> 1.16 s) get that interval's mean
    assert watts[(t_s <= 0.9) & inside] == pytest.approx(1.0)
    assert watts[(t_s >= 1.3) & inside] == pytest.approx(3.0)
    # the energy over the covered span is the meter's
    edges = np.concatenate(([t_s[0] - 0.1], t_s))
    width = np.diff(edges)
    start, end = edges[:-1][inside][0], t_s[inside][-1]
    truth = lambda t: t if t <= 1.0 else 1.0 + 3.0 * (t - 1.0)  # noqa: E731
    assert float(np.sum(watts[inside] * width[inside])) == pytest.approx(truth(end) - truth(start), rel=1e-9)


def test_a_meter_on_another_clock_is_placed_at_its_rows():
    t_s = np.arange(1.0, 2.01, 0.1)
    meter_ms = (t_s + 3600.0) * 1e3  # CLOCK_BOOTTIME after an hour of suspend
    raw = _raw(t_s, meter_ms, 2.0 * t_s * 1e6)
    watts = meter_power(t_s, raw, COL)["rail_uws:dev:0"]
    assert watts[1:] == pytest.approx(2.0)


def test_llama_clock_starts_at_the_first_output_less_the_load_not_before_the_start_mark():
    timings = LlamaTimings(load_ms=200.0)
    assert program_start(10.0, 10.45, timings) == pytest.approx(10.25)  # start-up took 0.25 s
    assert program_start(10.0, 10.1, timings) == 10.0  # an output cannot move the start before its mark
    assert program_start(10.0, None, timings) == 10.0
