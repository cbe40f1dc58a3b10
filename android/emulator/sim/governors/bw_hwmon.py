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
        self.tunables = t = tunables
        self.period_s = tunables.polling_ms / 1000.0
        # the percentages and MB/s as floats: float arithmetic with them gives the same results as with the
        # ints, without converting them at every poll (several devices poll every 50 ms)
        self.up_scale = float(t.up_scale)
        self.up_thres = float(100 + t.up_thres)
        self.down_thres = float(t.down_thres)
        self.decay_rate, self.decay_keep = float(t.decay_rate), float(100 - t.decay_rate)
        self.io_percent = float(t.io_percent)
        self.guard_band_mbps = float(t.guard_band_mbps)
        self.idle_mbps = float(t.idle_mbps)
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
        hist_max = self.hist_max
        if meas > hist_max or not self.hist_mem:
            self.hist_max = hist_max = meas
            self.hist_mem = t.hist_memory
        elif meas >= hist_max * HIST_PEAK_TOL / 100.0:
            self.hist_mem = t.hist_memory
        elif self.hist_mem:
            self.hist_mem -= 1
        if up_wake:
            top_mbps = obs.table_hz[-1] * obs.peak_bytes_per_hz / 1e6  # what the top level carries
            zone = top_mbps * self.io_percent / 100.0
            req += (meas - self.prev_req) * self.up_scale / 100.0
            if req > hist_max > meas:
                req = hist_max
            if req > meas and req > zone:  # min(req, max(meas, zone))
                req = meas if meas >= zone else zone
        hyst_mbps = self.hyst_mbps
        hyst_lo_tol = hyst_mbps * HIST_PEAK_TOL / 100.0
        if meas > hyst_mbps and meas > MIN_MBPS:
            hyst_lo_tol = meas * HIST_PEAK_TOL / 100.0
            self.hyst_peak = 0
            self.hyst_trig_win = t.hyst_length
            self.hyst_mbps = hyst_mbps = meas
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
            self.hyst_mbps = hyst_mbps = 0.0
        if self.hyst_en and meas > self.idle_mbps and hyst_mbps > req:  # max(req, hyst_mbps)
            req = hyst_mbps
        if meas < MIN_MBPS:
            self.up_wake_mbps = (req if req > MIN_MBPS else MIN_MBPS) * self.up_thres / 100.0  # max()
            self.down_wake_mbps = 0.0
        else:
            self.up_wake_mbps = req * self.up_thres / 100.0
            self.down_wake_mbps = meas * self.down_thres / 100.0
        self.prev_req = req
        adj = req + self.guard_band_mbps
        prev_ab = self.prev_ab
        new_bw = adj if adj > prev_ab else (adj * self.decay_rate + prev_ab * self.decay_keep) / 100.0
        self.prev_ab = new_bw
        ib_mbps = new_bw * 100.0 / self.io_percent
        hz, qos = int(ib_mbps * 1e6 / obs.peak_bytes_per_hz), obs.qos_min_hz
        return hz if hz >= qos else qos  # max()
