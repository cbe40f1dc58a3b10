"""bw_hwmon (Qualcomm drivers/devfreq/governor_bw_hwmon.c, get_bw_and_set_irq): vote bus bandwidth from
the traffic a hardware monitor counts.

Every polling interval the monitor's bytes give the measured MB/s (the hardware's early-wake interrupt on a
traffic jump is not modelled: the decision waits for the next poll). A rise past the last request times (100 + up_thres)% is an up wake: the
request over-shoots by `up_scale` percent of the rise (capped by the historic peak and by what the top
level can carry). Peaks are remembered for `hist_memory` samples and, after `hyst_trigger_count` close
peaks, held for `hyst_length` samples. The guard band is added; a fall is smoothed with `decay_rate`
(the weight of the new value), and the device frequency is the bandwidth over `io_percent` of the bus
(ib = ab * 100 / io_percent). Also serves kgsl's GPU bus monitors (gpubw_mon, bw_vbif).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_MBPS = 500.0
HIST_PEAK_TOL = 60  # percent


@dataclass(frozen=True)
class Tunables:
    polling_ms: int = field(default=50, metadata={"range": "[1, 1000]"})  # devfreq polling interval
    guard_band_mbps: int = field(default=100, metadata={"range": "[0, 2000]"})
    decay_rate: int = field(default=90, metadata={"range": "[0, 100]"})
    io_percent: int = field(default=16, metadata={"range": "[1, 400]"})
    bw_step: int = field(default=190, metadata={"range": "[50, 1000]"})
    up_scale: int = field(default=250, metadata={"range": "[0, 500]"})
    up_thres: int = field(default=10, metadata={"range": "[1, 100]"})
    down_thres: int = field(default=0, metadata={"range": "[0, 90]"})
    hist_memory: int = field(default=20, metadata={"range": "[0, 90]"})
    hyst_trigger_count: int = field(default=3, metadata={"range": "[0, 90]"})
    hyst_length: int = field(default=10, metadata={"range": "[0, 90]"})
    idle_mbps: int = field(default=1600, metadata={"range": "[0, 2000]"})


class BwHwmon:
    kind = "bus"
    section = "bw_hwmon"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        self.tunables = tunables
        self.period_s = tunables.polling_ms / 1000.0
        self.prev_req = 0.0
        self.prev_ab = 0.0
        self.hist_max = 0.0
        self.hist_mem = 0
        self.hyst_mbps = 0.0
        self.hyst_peak = 0
        self.hyst_trig_win = 0
        self.hyst_en = 0
        self.up_wake_mbps = MIN_MBPS
        self.down_wake_mbps = 0.0

    def update(self, obs) -> int | None:
        t = self.tunables
        if obs.window_s <= 0:
            return None
        meas = obs.bytes / obs.window_s / 1e6
        up_wake = meas > self.up_wake_mbps
        req = meas
        hist_lo_tol = self.hist_max * HIST_PEAK_TOL / 100.0
        if meas > self.hist_max or not self.hist_mem:
            self.hist_max = meas
            self.hist_mem = t.hist_memory
        elif meas >= hist_lo_tol:
            self.hist_mem = t.hist_memory
        elif self.hist_mem:
            self.hist_mem -= 1
        top_mbps = obs.table_hz[-1] * obs.peak_bytes_per_hz / 1e6  # what the top level carries
        zone = top_mbps * t.io_percent / 100.0
        meas_zone = meas if meas >= zone else zone  # max(); builtins cost more than a compare on this path
        if up_wake:
            req += (meas - self.prev_req) * t.up_scale / 100.0
            if req > self.hist_max > meas:
                req = self.hist_max
            req = req if req <= meas_zone else meas_zone  # min()
        hyst_lo_tol = self.hyst_mbps * HIST_PEAK_TOL / 100.0
        if meas > self.hyst_mbps and meas > MIN_MBPS:
            hyst_lo_tol = meas * HIST_PEAK_TOL / 100.0
            self.hyst_peak = 0
            self.hyst_trig_win = t.hyst_length
            self.hyst_mbps = meas
        if meas >= hyst_lo_tol and meas > MIN_MBPS:
            self.hyst_peak += 1
            if self.hyst_peak >= t.hyst_trigger_count or self.hyst_en:
                self.hyst_en = t.hyst_length
        if self.hyst_trig_win:
            self.hyst_trig_win -= 1
        if self.hyst_en:
            self.hyst_en -= 1
        if not self.hyst_trig_win and not self.hyst_en:
            self.hyst_peak = 0
            self.hyst_mbps = 0.0
        if self.hyst_en and meas > t.idle_mbps:
            req = max(req, self.hyst_mbps)
        if meas < MIN_MBPS:
            self.up_wake_mbps = max(MIN_MBPS, req) * (100 + t.up_thres) / 100.0
            self.down_wake_mbps = 0.0
        else:
            self.up_wake_mbps = req * (100 + t.up_thres) / 100.0
            self.down_wake_mbps = meas * t.down_thres / 100.0
        self.prev_req = req
        adj = req + t.guard_band_mbps
        if adj > self.prev_ab:
            new_bw = adj
        else:
            new_bw = (adj * t.decay_rate + self.prev_ab * (100 - t.decay_rate)) / 100.0
        self.prev_ab = new_bw
        ib_mbps = new_bw * 100.0 / t.io_percent
        hz, qos = int(ib_mbps * 1e6 / obs.peak_bytes_per_hz), obs.qos_min_hz
        return hz if hz >= qos else qos  # max()
