"""The phone backend's energy integration (governor.phone.overlap_s): each row's power holds over its own
interval (energy counters differenced), so a phase is integrated exactly whatever the rows' spacing."""

from __future__ import annotations

import numpy as np
import pytest

from governor.phone import overlap_s


def test_overlap_weights_integrate_a_window_exactly_with_irregular_rows():
    t_s = np.array([0.1, 0.2, 0.45, 0.5, 1.3, 1.4])  # the first row's interval is as long as the second's
    weights = overlap_s(t_s, 0.3, 1.35)
    assert weights.sum() == pytest.approx(1.05)
    assert weights.tolist() == pytest.approx([0.0, 0.0, 0.15, 0.05, 0.8, 0.05])
    power_w = np.array([1.0, 1.0, 2.0, 4.0, 3.0, 5.0])
    assert float(power_w @ weights) == pytest.approx(2.0 * 0.15 + 4.0 * 0.05 + 3.0 * 0.8 + 5.0 * 0.05)


def test_a_window_between_two_rows_takes_the_row_whose_interval_holds_it():
    """A prefill shorter than the sampling interval, which no row's time falls inside, still gets its energy."""
    t_s = np.array([0.0, 1.0, 2.0])
    assert overlap_s(t_s, 1.2, 1.5).tolist() == pytest.approx([0.0, 0.0, 0.3])
    assert overlap_s(t_s, 3.0, 4.0).sum() == 0.0
