#!/usr/bin/env python3
"""fusegovd: the on-phone governor daemon of fusegov. Runs as root on the phone; standard library only
(Python >= 3.8); knows nothing of SoCs: `fusegov deploy` writes its configuration (config.json) from the
governor's plan and `fusegov probe`, with every knob's sysfs files and the values to write in the files'
own units.

It listens for phase hints on a FIFO (WORKDIR/hints) and, on each, pins every knob the plan sets for that
phase (min = max, written in the order that never makes min > max, read back to verify) and returns the
knobs the phase leaves alone to the settings it found. Hint protocol (one line, one write, <= 256 bytes):

    prefill N [model=NAME]     N prompt tokens are about to be processed (picks the plan's prefill bucket)
    decode [model=NAME]        token generation starts
    cnn [model=NAME]           CNN inference starts
    idle                       inference ended: every knob back to the settings found

Repeating the current hint keeps it alive (the watchdog releases the pins when no hint arrives for
`watchdog_s` during a pinned phase). A malformed hint is logged and changes nothing.

Safety: before its first write it saves the settings it found (governor, min, max per knob) to
WORKDIR/state.json; it puts them back on exit, SIGTERM, SIGINT and SIGHUP; after a crash or SIGKILL the next
start (or `fusegovd.py restore`, which `fusegov restore` runs) restores from the state file, unless the phone
rebooted since (boot_id differs), which already reset the knobs. A thermal guard returns the knobs to the
found settings while any guarded zone is at or above its limit and pins again once all are below the limit
minus the hysteresis. A write that fails is logged and the daemon carries on with the other knobs.

Heat (configuration version 2): a plan's phases may carry cooler settings (rungs); at each phase change the
daemon picks a heat level from the zones with passive trips (`HeatSteps`: in proportion to how far the hottest
zone is into its trip's hysteresis band, the coolest level an eighth of the hysteresis below the trip) and pins
the phase's rung for that level (level 0: the phase's own setting).

Every action is logged to WORKDIR/fusegovd.log with CLOCK_MONOTONIC timestamps (time.monotonic), the
clock traces use, so the log aligns with them.

Usage: fusegovd.py run --dir WORKDIR | restore --dir WORKDIR | check CONFIG.json
"""

from __future__ import annotations

import argparse
import collections
import errno
import json
import math
import os
import select
import signal
import stat
import sys
import time

CONFIG_FORMAT, STATE_FORMAT, STATUS_FORMAT = "fusegov.daemon-config", "fusegov.daemon-state", "fusegov.daemon-status"
VERSION = 1  # of the state and status files
CONFIG_VERSIONS = (1, 2)  # 2 adds `heat` and the plans' `cooler` settings
PHASES = ("prefill", "decode", "cnn", "idle")
PINNED_PHASES = ("prefill", "decode", "cnn")
MAX_HINT_BYTES = 256
BOOT_ID = "/proc/sys/kernel/random/boot_id"
UPTIME = "/proc/uptime"
CONFIG_FILE, STATE_FILE, STATUS_FILE = "config.json", "state.json", "status.json"
LOG_FILE, FIFO_FILE = "fusegovd.log", "hints"
KNOB_FILES = ("min_file", "max_file", "governor_file")
KNOB_PATHS = ("min_path", "max_path", "governor_path")
EXIT_CONFIG, EXIT_BUSY = 2, 3
# The virtual phone's Python (`fusegov emulate`) makes a batch of small file calls in one round trip to the
# emulator (each call on its own costs one: 0.1-0.2 ms); a real phone has no os.file_batch, and there the
# same calls are made one by one (syscalls: microseconds). Same calls, same order, same checks either way.
FILE_BATCH = getattr(os, "file_batch", None)


class ConfigError(Exception):
    """The configuration (the plan as deployed) is malformed; nothing is written."""


class HintError(Exception):
    """A hint line is malformed; it changes nothing."""


class Stop(Exception):
    """A stop signal arrived while the daemon waited."""


# --- configuration ------------------------------------------------------------------------------------


class Knob:
    """One knob's files and values, in the files' own units (the host converted from Hz)."""

    def __init__(self, name, min_path, max_path, governor_path, unit, table=()):
        self.name, self.unit, self.table = name, unit, table
        self.min_path, self.max_path, self.governor_path = min_path, max_path, governor_path

    def to_dict(self):
        return {
            "min_path": self.min_path,
            "max_path": self.max_path,
            "governor_path": self.governor_path,
            "unit": self.unit,
        }


class Plan:
    """One model's settings per phase: prefill buckets (ascending max prompt tokens, None = no bound), and each
    phase's cooler settings, hottest first (`cooler`: {"prefill": [[...] per bucket], "decode": [...], ...})."""

    def __init__(self, model, prefill, decode, cnn, cooler=None):
        self.model, self.prefill, self.decode, self.cnn = model, prefill, decode, cnn
        self.cooler = cooler or {}

    def setting(self, phase, tokens, level=0):
        """(label, {knob: value}) for a phase at a heat level; a prompt longer than every bucket takes the last
        one; a level deeper than a phase's rungs takes its coolest."""
        if phase == "prefill":
            if not self.prefill:
                return "prefill (no plan: stock)", {}
            index = next((i for i, (bound, _) in enumerate(self.prefill) if bound is None or tokens <= bound), None)
            last = index is None
            index = len(self.prefill) - 1 if last else index
            bound, setting = self.prefill[index]
            label = "prefill<=%s" % ("any" if bound is None else bound) + (" (longest bucket)" if last else "")
            rungs = (self.cooler.get("prefill") or [[]] * len(self.prefill))[index]
        else:
            setting = self.decode if phase == "decode" else self.cnn
            if setting is None:
                return phase + " (no plan: stock)", {}
            label, rungs = phase, self.cooler.get(phase) or []
        if level > 0 and rungs:
            step = min(level, len(rungs))
            return f"{label} cooler {step}", rungs[step - 1]
        return label, setting

    @property
    def levels(self):
        """The most cooler settings any phase has."""
        counts = [len(r) for r in self.cooler.get("prefill") or []] + [
            len(self.cooler.get(p) or []) for p in ("decode", "cnn")
        ]
        return max(counts, default=0)


class Trip(collections.namedtuple("Trip", "zone temp_c hysteresis_c")):
    """A zone's passive trip, where the kernel starts throttling (temperatures in C)."""

    __slots__ = ()

    @property
    def threshold_c(self):
        """Where the heat levels start: the trip less its hysteresis."""
        return self.temp_c - self.hysteresis_c

    @property
    def coolest_c(self):
        """Where the coolest level is reached: GUARD_SHARE of the hysteresis below the trip."""
        return self.temp_c - GUARD_SHARE * self.hysteresis_c

    def depth(self, temp_c):
        """How far `temp_c` is into the band from threshold_c (0) to coolest_c (1), unclipped (a trip without
        hysteresis has no band: 1 at or above it, 0 below)."""
        width = self.coolest_c - self.threshold_c
        if width <= 0:
            return 1.0 if temp_c >= self.temp_c else 0.0
        return (temp_c - self.threshold_c) / width


# the coolest heat level is reached this share of a trip's hysteresis below the trip: crossing the trip costs
# a long throttle (step_wise lets go only a hysteresis below it), and the skin keeps warming for a while after
# a phase has been made cooler
GUARD_SHARE = 0.125


class HeatSteps:
    """The heat level for each phase start, in proportion to how far the hottest zone is into its trip's band
    (from the trip less its hysteresis, level 0, up to `Trip.coolest_c`, the coolest level), as power_allocator
    sets a budget from the temperature's distance to its target rather than step_wise's one state per poll:
    a plan's levels cut heat where it costs the least latency first, so the phone holds at the warmest level
    whose power it sustains, near the trip and below it. A rule stepping one level per phase start while a zone
    within the hysteresis warmed (the kernel's step_wise, a hysteresis early) kept stepping while the skin's lag
    hid the last step, and stepped back only below the band: it held pixel7 and hexa6 at their coolest levels
    1-2 C below the trip, cutting decode speed the phone could have kept (TPOT 4-5 points behind FUSE's, whose
    phone the kernel throttles at the trip). Zones missing from a reading are left out of it. The host's replay
    (governor.replay) uses this class too."""

    def __init__(self, trips, levels):
        self.trips, self.levels = tuple(trips), levels
        self.level = 0

    def update(self, temps_c):
        depths = [t.depth(float(temps_c[t.zone])) for t in self.trips if t.zone in temps_c]
        deepest = max((d for d in depths if d == d), default=0.0)  # a NaN reading is left out, as a missing zone
        depth = min(max(deepest, 0.0), 1.0)
        self.level = math.ceil(depth * self.levels - 1e-9)
        return self.level


class Config:
    def __init__(self, data):
        self.device = data["device"]
        self.knobs = data["knobs"]
        self.plans = data["plans"]
        self.default_model = data["default_model"]
        self.zones = data["zones"]
        self.limit_c, self.hysteresis_c, self.thermal_period_s = data["thermal"]
        self.trips, self.trip_files = data["heat"]  # [Trip], {zone: temp file}
        self.watchdog_s = data["watchdog_s"]
        self.log_max_bytes = data["log_max_bytes"]


def _need(data, key, kind, where):
    if not isinstance(data, dict) or key not in data:
        raise ConfigError(f"{where}: missing {key!r}")
    value = data[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value > 0
        if not ok or value == float("inf"):
            raise ConfigError(f"{where}.{key}: must be a positive finite number, got {value!r}")
        return float(value)
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}.{key}: must be a positive integer, got {value!r}")
        return value
    if not isinstance(value, kind) or (kind is str and not value):
        raise ConfigError(f"{where}.{key}: must be a {kind.__name__}, got {value!r}")
    return value


def _abs_path(text, where):
    if not isinstance(text, str) or not text.startswith("/") or "\n" in text or "/../" in text + "/":
        raise ConfigError(f"{where}: not an absolute path: {text!r}")
    return text


def _file_name(text, where):
    if not isinstance(text, str) or not text or "/" in text or text in (".", ".."):
        raise ConfigError(f"{where}: not a file name: {text!r}")
    return text


def _setting(data, knobs, where):
    """{knob: value} with every value in the knob's table; null means 'left to the stock governor'."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a setting is an object {{knob: value}}, got {data!r}")
    setting = {}
    for name, value in data.items():
        if name not in knobs:
            raise ConfigError("{}: unknown knob {!r} (configured: {})".format(where, name, ", ".join(sorted(knobs))))
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value not in knobs[name].table:
            raise ConfigError(
                "{}.{}: {!r} is not in the knob's table ({}, in {})".format(
                    where, name, value, " ".join(map(str, knobs[name].table)), knobs[name].unit
                )
            )
        setting[name] = value
    return setting


def _rungs(data, knobs, where):
    if not isinstance(data, list):
        raise ConfigError(f"{where}: a list of settings, hottest first, got {data!r}")
    return [_setting(rung, knobs, f"{where}[{i}]") for i, rung in enumerate(data)]


def _cooler(spec, prefill_buckets, knobs, where):
    """A plan's cooler settings per phase (configuration version 2), validated like its own settings."""
    raw = spec.get("cooler")
    if raw is None:
        return {}
    where += ".cooler"
    if not isinstance(raw, dict) or set(raw) - {"prefill", "decode", "cnn"}:
        raise ConfigError(f"{where}: an object with prefill, decode and cnn rungs, got {raw!r}")
    cooler = {}
    for phase in ("decode", "cnn"):
        if raw.get(phase) is not None:
            if spec.get(phase) is None:
                raise ConfigError(f"{where}.{phase}: rungs for a phase the plan does not set")
            cooler[phase] = _rungs(raw[phase], knobs, f"{where}.{phase}")
    if raw.get("prefill") is not None:
        if not isinstance(raw["prefill"], list) or len(raw["prefill"]) != prefill_buckets:
            raise ConfigError(f"{where}.prefill: one list of rungs per prefill bucket ({prefill_buckets})")
        cooler["prefill"] = [_rungs(r, knobs, f"{where}.prefill[{i}]") for i, r in enumerate(raw["prefill"])]
    return cooler


def _heat(raw):
    """([Trip], {zone: temperature file}) from the configuration's `heat` (none: no stepping)."""
    if raw is None:
        return [], {}
    listed = _need({"heat": raw}, "heat", dict, "config").get("trips", [])
    if not isinstance(listed, list):
        raise ConfigError(f"heat.trips: a list of trips, got {listed!r}")
    trips, files = [], {}
    for i, trip in enumerate(listed):
        where = f"heat.trips[{i}]"
        zone = _need(trip, "zone", str, where)
        path = _abs_path(_need(trip, "temp_file", str, where), where + ".temp_file")
        if files.get(zone, path) != path:
            raise ConfigError(f"{where}.temp_file: zone {zone!r} already reads {files[zone]}")
        hysteresis = trip.get("hysteresis_c", 0.0)
        if not isinstance(hysteresis, (int, float)) or isinstance(hysteresis, bool) or not 0 <= hysteresis < 1000:
            raise ConfigError(f"{where}.hysteresis_c: must be a number >= 0, got {hysteresis!r}")
        trips.append(Trip(zone, _need(trip, "temp_c", float, where), hysteresis))
        files[zone] = path
    return trips, files


def parse_config(data):
    """Validate everything before anything is written; ConfigError names the offending field."""
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise ConfigError(f"not a fusegov daemon configuration (format must be {CONFIG_FORMAT!r})")
    if data.get("version") not in CONFIG_VERSIONS:
        raise ConfigError(
            f"configuration version {data.get('version')!r} is not supported "
            f"(this daemon reads {', '.join(map(str, CONFIG_VERSIONS))})"
        )
    knobs = {}
    for name, spec in _need(data, "knobs", dict, "config").items():
        where = f"knobs.{name}"
        table = _need(spec, "table", list, where)
        if not table or any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in table):
            raise ConfigError(f"{where}.table: must be a non-empty list of positive integers")
        directory = _abs_path(_need(spec, "directory", str, where), where + ".directory")
        files = [_file_name(_need(spec, key, str, where), where + "." + key) for key in KNOB_FILES]
        knobs[name] = Knob(name, *[directory + "/" + f for f in files], _need(spec, "unit", str, where), sorted(table))
    if not knobs:
        raise ConfigError("knobs: the configuration sets no knob")
    plans = {}
    for model, spec in _need(data, "plans", dict, "config").items():
        where = f"plans.{model}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be an object")
        unknown = sorted(set(spec) - {"prefill", "decode", "cnn", "cooler"})
        if unknown:
            raise ConfigError(f"{where}: unknown phase {unknown[0]!r} (phases: prefill, decode, cnn)")
        prefill = []
        for k, bucket in enumerate(spec.get("prefill") or []):
            bw = f"{where}.prefill[{k}]"
            bound = bucket.get("max_tokens") if isinstance(bucket, dict) else "?"
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 1):
                raise ConfigError(f"{bw}.max_tokens: must be a positive integer or null, got {bound!r}")
            prefill.append((bound, _setting(_need(bucket, "setting", dict, bw), knobs, bw + ".setting")))
        bounds = [b for b, _ in prefill]
        if (
            None in bounds[:-1]
            or bounds[:-1] != sorted(set(bounds[:-1]))
            or (len(bounds) > 1 and bounds[-1] is not None and bounds[-1] <= bounds[-2])
        ):
            raise ConfigError(f"{where}.prefill: buckets must ascend by max_tokens (only the last may be null)")
        others = {}
        for phase in ("decode", "cnn"):
            others[phase] = None if spec.get(phase) is None else _setting(spec[phase], knobs, where + "." + phase)
        plans[model] = Plan(model, prefill, others["decode"], others["cnn"], _cooler(spec, len(prefill), knobs, where))
    if not plans:
        raise ConfigError("plans: the configuration holds no plan")
    default_model = _need(data, "default_model", str, "config")
    if default_model not in plans:
        raise ConfigError("default_model: {!r} has no plan (plans: {})".format(default_model, ", ".join(sorted(plans))))
    zones = {}
    thermal = _need(data, "thermal", dict, "config")
    for zone, path in _need(thermal, "zones", dict, "thermal").items():
        zones[zone] = _abs_path(path, f"thermal.zones.{zone}")
    limit = _need(thermal, "limit_c", float, "thermal")
    hysteresis = _need(thermal, "hysteresis_c", float, "thermal")
    if hysteresis >= limit:
        raise ConfigError(f"thermal.hysteresis_c: {hysteresis:g} must be below limit_c {limit:g}")
    data = dict(data)
    data.update(
        knobs=knobs,
        plans=plans,
        zones=zones,
        heat=_heat(data.get("heat")),
        thermal=(limit, hysteresis, _need(thermal, "period_s", float, "thermal")),
        watchdog_s=_need(data, "watchdog_s", float, "config"),
        log_max_bytes=_need(data, "log_max_bytes", int, "config"),
        device=_need(data, "device", dict, "config"),
    )
    return Config(data)


def load_config(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    return parse_config(data)


def parse_hint(line, config):
    """(phase, prompt tokens or 0, model) from one hint line; HintError if malformed."""
    words = line.split()
    if not words:
        raise HintError("empty hint")
    phase, rest = words[0], words[1:]
    if phase not in PHASES:
        raise HintError("unknown phase {!r} (phases: {})".format(phase, ", ".join(PHASES)))
    tokens = 0
    if phase == "prefill":
        if not rest or not (0 < len(rest[0]) <= 9 and rest[0].strip("0123456789") == "") or int(rest[0]) < 1:
            raise HintError("prefill needs the prompt length: 'prefill N' with 1 <= N < 10^9")
        tokens, rest = int(rest[0]), rest[1:]
    model = config.default_model
    for word in rest:
        key, sep, value = word.partition("=")
        if key != "model" or not sep or not value:
            raise HintError(f"unexpected {word!r} (only model=NAME may follow)")
        if phase == "idle":
            raise HintError("idle takes no model")
        if value not in config.plans:
            raise HintError("no plan for model {!r} (plans: {})".format(value, ", ".join(sorted(config.plans))))
        model = value
    return phase, tokens, model


# --- files --------------------------------------------------------------------------------------------


class SysfsFile:
    """A kernel attribute kept open: each read is one pread-like read from offset 0, each write one write()
    of the whole value, as sysfs wants. Reopened once if the cached descriptor went stale."""

    def __init__(self, path):
        self.path = path
        self._fds = {}

    def _fd(self, flags):
        fd = self._fds.get(flags)
        if fd is None:
            fd = self._fds[flags] = os.open(self.path, flags)
        return fd

    def _read(self):
        fd = self._fd(os.O_RDONLY)
        os.lseek(fd, 0, os.SEEK_SET)
        return attr_text(os.read(fd, 4096))

    def _write(self, data):
        fd = self._fd(os.O_WRONLY)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)

    def _stale(self, exc):
        """After a failed call: drop the descriptors; re-raise unless a fresh open may succeed."""
        self.close()
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EINVAL, errno.EROFS):
            raise exc

    def read(self):
        try:
            return self._read()
        except OSError as exc:
            self._stale(exc)
        return self._read()

    def write(self, text):
        data = text.encode() if isinstance(text, str) else text
        try:
            return self._write(data)
        except OSError as exc:
            self._stale(exc)
        self._write(data)

    def close(self):
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()


def attr_text(data):
    return data.decode(errors="replace").strip()


def read_text(path):
    with open(path) as handle:
        return handle.read()


def write_atomic(path, data, durable=False):
    """Write a small file so that a crash leaves either the old or the new content, never half; `durable`
    also flushes it to storage (the state file: it must outlive the daemon, not the status)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data.encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def boot_id():
    try:
        return read_text(BOOT_ID).strip() or None
    except OSError:
        return None


def boottime_s():
    """Seconds since boot (CLOCK_BOOTTIME, /proc/uptime): the host computes the daemon's uptime from it."""
    try:
        return float(read_text(UPTIME).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


# --- the log ------------------------------------------------------------------------------------------


class Log:
    """One line per action: CLOCK_MONOTONIC seconds, then the event. Rotated to .1 past log_max_bytes."""

    def __init__(self, path, max_bytes):
        self.path, self.max_bytes = path, max_bytes
        self._handle = None
        self._size = 0

    def __call__(self, message, t=None):
        line = f"{time.monotonic() if t is None else t:.6f} {message}\n"
        try:
            if self._handle is None:
                self._handle = open(self.path, "a")
                self._size = os.stat(self.path).st_size
            if self._size + len(line) > self.max_bytes:
                self._handle.close()
                os.replace(self.path, self.path + ".1")
                self._handle, self._size = open(self.path, "a"), 0
            self._handle.write(line)
            self._handle.flush()
            self._size += len(line)
        except OSError as exc:  # a full /data must not stop the daemon from restoring knobs
            sys.stderr.write(f"fusegovd: log: {exc}; {line}")

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None


# --- knob control -------------------------------------------------------------------------------------


class Knobs:
    """Pin and restore knobs through sysfs, every write verified by reading back; a failing knob is
    reported and the others still get their writes."""

    def __init__(self, knobs, log):
        self.knobs, self.log = knobs, log
        self.files = {}
        self.known = {}  # knob -> (min, max) as last read back: the write order comes from it

    def file(self, path):
        found = self.files.get(path)
        if found is None:
            found = self.files[path] = SysfsFile(path)
        return found

    def read_int(self, path):
        return parse_int(self.file(path).read(), path)

    def calls(self, groups):
        """Groups of file calls, ("read", path) or ("write", path, bytes), made in order; a group stops at its
        first failure. Returns per group the text read (reads), None (writes) or the OSError of the call that
        failed (the group's last entry). One round trip on the virtual phone (FILE_BATCH)."""
        if FILE_BATCH is not None:
            return [[r if isinstance(r, OSError) or r is None else attr_text(r) for r in g] for g in FILE_BATCH(groups)]
        results = []
        for group in groups:
            done = []
            for call in group:
                try:
                    done.append(self.file(call[1]).read() if call[0] == "read" else self.file(call[1]).write(call[2]))
                except OSError as exc:
                    done.append(exc)
                    break
            results.append(done)
        return results

    def snapshot(self, names):
        """{knob: {governor, min, max}} as found; a knob that cannot be read is left out (and never touched)."""
        found = {}
        for name in names:
            knob = self.knobs[name]
            try:
                found[name] = {
                    "governor": self.file(knob.governor_path).read(),
                    "min": self.read_int(knob.min_path),
                    "max": self.read_int(knob.max_path),
                }
                self.known[name] = (found[name]["min"], found[name]["max"])
            except OSError as exc:
                self.log(f"snapshot {name} failed: {describe(exc)}; it will not be touched")
        return found

    def set_limits(self, name, low, high):
        return self.set_many([(name, low, high)])[name]

    def set_many(self, wanted):
        """For each (knob, min, max): write min and max in the order that never makes min > max, then read
        both back. Returns {knob: None on success, else the problem}; a knob that fails never stops the
        others. The order comes from the limits last read back (kept per knob); a file that already holds
        its value is not written (the read-back still checks it: one call fewer on a phone whose every file
        call costs, and a restore succeeds on a knob whose unchanged file cannot be written). If the limits
        moved under us (another writer, a thermal cap) and a write is refused or the read-back differs, the
        limits are read afresh and the writes done once more. The knobs whose limits are known go in one
        batch of calls (one group per knob)."""
        problems, batched = {}, []
        for name, low, high in wanted:
            known = self.known.pop(name, None)
            if known is None:
                problems[name] = self._write_limits(name, low, high, None)
            else:
                batched.append((name, low, high, known))
        groups = [self._limit_calls(name, low, high, known) for name, low, high, known in batched]
        for (name, low, high, _), results in zip(batched, self.calls(groups)):
            problem = self._check_limits(name, low, high, results)
            if problem:  # the limits moved under us: read them afresh and try once more
                problem = self._write_limits(name, low, high, None)
            problems[name] = problem
        return problems

    def _limit_calls(self, name, low, high, known):
        knob = self.knobs[name]
        order = [(knob.min_path, low, known[0]), (knob.max_path, high, known[1])]
        if low > known[1]:
            order.reverse()
        writes = [("write", path, str(value).encode()) for path, value, current in order if current != value]
        return writes + [("read", knob.min_path), ("read", knob.max_path)]

    def _write_limits(self, name, low, high, known):
        """One try at a knob's limits, reading them first when not known."""
        knob = self.knobs[name]
        if known is None:
            try:
                known = (self.read_int(knob.min_path), self.read_int(knob.max_path))
            except OSError as exc:
                return describe(exc)
        return self._check_limits(name, low, high, self.calls([self._limit_calls(name, low, high, known)])[0])

    def _check_limits(self, name, low, high, results):
        """None if a knob's calls all succeeded and its limits read back as asked (then kept), else the problem."""
        knob = self.knobs[name]
        try:
            for result in results:
                if isinstance(result, OSError):
                    raise result
            got = (parse_int(results[-2], knob.min_path), parse_int(results[-1], knob.max_path))
        except OSError as exc:
            return describe(exc)
        if got != (low, high):
            return (
                f"asked for {low}..{high} {knob.unit}, reads back {got[0]}..{got[1]} (thermal cap or another writer?)"
            )
        self.known[name] = got
        return None

    def restore_one(self, name, saved, governor=True):
        """Put one knob back as found: its governor (if it changed) then its limits."""
        knob = self.knobs[name]
        problems = []
        if governor:
            try:
                gov = self.file(knob.governor_path)
                if gov.read() != saved["governor"]:
                    gov.write(saved["governor"])
                    if gov.read() != saved["governor"]:
                        problems.append("governor reads back {!r}, not {!r}".format(gov.read(), saved["governor"]))
            except OSError as exc:
                problems.append(f"governor: {describe(exc)}")
        problem = self.set_limits(name, saved["min"], saved["max"])
        if problem:
            problems.append(problem)
        return "; ".join(problems) or None

    def close(self):
        for handle in self.files.values():
            handle.close()
        self.files.clear()


def parse_int(text, path):
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise OSError(errno.EIO, f"not a number: {text!r}", path) from None


def describe(exc):
    text = exc.strerror or str(exc)
    path = exc.filename
    if exc.errno == errno.ENOENT:
        text = "no such file (knob vanished?)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        text = "not writable (read-only knob, or not root?)"
    elif exc.errno == errno.EINVAL:
        text = "value rejected by the kernel (EINVAL)"
    return f"{path}: {text}" if path else text


def describe_setting(entry):
    return f"{entry['governor']} {entry['min']}..{entry['max']}"


def knobs_of_saved(saved):
    """Knob records rebuilt from a state file, so restore works without (or with a changed) config."""
    return dict(
        (name, Knob(name, e["min_path"], e["max_path"], e["governor_path"], e.get("unit", "")))
        for name, e in saved.items()
    )


def valid_state(state):
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not isinstance(state.get("knobs"), dict):
        return False
    for entry in state["knobs"].values():
        if not isinstance(entry, dict) or not isinstance(entry.get("governor"), str):
            return False
        if any(not isinstance(entry.get(k), int) or isinstance(entry.get(k), bool) for k in ("min", "max")):
            return False
        if any(not isinstance(entry.get(k), str) or not entry[k].startswith("/") for k in KNOB_PATHS):
            return False
    return True


def restore_from_state(workdir, log, reason):
    """Put back what a previous daemon saved, unless the phone rebooted since. Returns the number of knobs
    that could not be restored (the state file is kept for another try then)."""
    path = os.path.join(workdir, STATE_FILE)
    try:
        state = json.loads(read_text(path))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0
        log(f"{reason}: cannot read {path}: {describe(exc)}")
        return 1
    except ValueError:
        log(f"{reason}: {path} is not JSON (torn write?); removed, knobs left as they are")
        os.remove(path)
        return 0
    if not valid_state(state):
        log(f"{reason}: {path} is not a fusegov state file; left alone")
        return 1
    now_boot = boot_id()
    stale = (state.get("boot_id") and now_boot and state["boot_id"] != now_boot) or (
        not now_boot and (boottime_s() or 0) < (state.get("boottime_s") or 0)
    )
    if stale:
        log(
            "{}: state from pid {} is from an earlier boot; the reboot reset the knobs; removed".format(
                reason, state.get("pid")
            )
        )
        os.remove(path)
        return 0
    saved = state["knobs"]
    knobs = Knobs(knobs_of_saved(saved), log)
    failures = 0
    for name in sorted(saved):
        problem = knobs.restore_one(name, saved[name])
        if problem:
            failures += 1
            log(f"{reason}: restore {name} failed: {problem}")
        else:
            entry = saved[name]
            log(f"{reason}: restored {name}: {describe_setting(entry)} {entry.get('unit', '')}")
    knobs.close()
    if failures:
        log(f"{reason}: {failures} knob(s) not restored; {path} kept for another try")
    else:
        os.remove(path)
        log(f"{reason}: state from pid {state.get('pid')} restored and removed")
    return failures


# --- the daemon ---------------------------------------------------------------------------------------


class Daemon:
    def __init__(self, workdir, config):
        self.workdir, self.config = workdir, config
        self.log = Log(os.path.join(workdir, LOG_FILE), config.log_max_bytes)
        self.knobs = Knobs(config.knobs, self.log)
        self.found = {}
        self.applied = {}  # knob -> value pinned now (absent: as found)
        self.failed = {}  # knob -> last problem
        self.phase, self.label, self.model, self.tokens = "idle", "idle", config.default_model, 0
        self.hot = False
        self.temps = {}
        levels = max((plan.levels for plan in config.plans.values()), default=0)
        self.heat = HeatSteps(config.trips, levels) if config.trips and levels else None
        self.next_thermal = 0.0
        self.last_hint = time.monotonic()
        self.hints, self.rejected, self.releases = 0, 0, {"watchdog": 0, "thermal": 0}
        self.resumes = 0  # times the thermal guard pinned again after cooling
        self.last_apply = None
        self.stop_signal = None
        self.waiting = False
        self.started_boottime = boottime_s()
        self.boot_id = boot_id()
        self.fifo = None

    # signals: while waiting, a stop signal interrupts the wait; otherwise the current hint finishes first
    def on_signal(self, signum, frame):
        self.stop_signal = signum
        if self.waiting:
            raise Stop()

    def path(self, name):
        return os.path.join(self.workdir, name)

    def serve(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        device = self.config.device
        plans = ", ".join(sorted(self.config.plans))
        calls = "one batch per phase change (os.file_batch)" if FILE_BATCH is not None else "one syscall each"
        self.log(
            f"start pid {os.getpid()}, config for {device.get('model')} ({device.get('name')}), plans: {plans}; "
            f"knob file calls: {calls}"
        )
        if restore_from_state(self.workdir, self.log, "recovery"):
            self.log("exit: knobs left by a previous daemon could not all be restored; not starting")
            return 1
        self.found = self.knobs.snapshot(sorted(self.config.knobs))
        state = {
            "format": STATE_FORMAT,
            "version": VERSION,
            "pid": os.getpid(),
            "boot_id": self.boot_id,
            "boottime_s": self.started_boottime,
            "knobs": dict((n, dict(v, **self.config.knobs[n].to_dict())) for n, v in self.found.items()),
        }
        write_atomic(self.path(STATE_FILE), json.dumps(state, indent=1), durable=True)
        found = ", ".join(f"{name} {describe_setting(entry)}" for name, entry in sorted(self.found.items()))
        self.log(f"saved found settings: {found}")
        try:
            self.fifo = self.open_fifo()
            self.write_status()
            self.loop()
        except Stop:
            pass
        finally:
            self.waiting = False
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)  # nothing interrupts the restore
            failures = self.restore_all()
            if self.fifo is not None:
                os.close(self.fifo)
            reason = f"signal {signal.Signals(self.stop_signal).name}" if self.stop_signal else "normal exit"
            outcome = f"{failures} knob(s) NOT restored, state kept" if failures else "knobs restored"
            self.log(f"exit ({reason}): {outcome}")
            self.write_status(running=False)
            self.log.close()
        return 0 if not failures else 1

    def open_fifo(self):
        path = self.path(FIFO_FILE)
        try:
            mode = os.stat(path).st_mode
            if not stat.S_ISFIFO(mode):
                os.remove(path)
                raise FileNotFoundError
        except FileNotFoundError:
            os.mkfifo(path, 0o600)
        os.chmod(path, 0o622)  # any local user may hint; hints only choose among the plan's settings
        # read-write, so the FIFO never reports end-of-file when the last writer closes
        return os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def loop(self):
        pending = b""
        while self.stop_signal is None:
            timeout = self.timeout()
            self.waiting = True
            try:
                if self.stop_signal is not None:
                    raise Stop()
                ready = select.select([self.fifo], [], [], timeout)[0]
            finally:
                self.waiting = False
            if ready:
                arrived = time.monotonic()  # CLOCK_MONOTONIC: the log's clock and the traces'
                cpu = time.process_time()
                try:
                    chunk = os.read(self.fifo, 4096)
                except BlockingIOError:
                    chunk = b""
                pending += chunk
                lines = pending.split(b"\n")
                pending = lines.pop()
                if len(pending) > MAX_HINT_BYTES:
                    self.reject(pending[:40].decode(errors="replace"), f"longer than {MAX_HINT_BYTES} bytes")
                    pending = b""
                for line in lines:
                    text = line.decode(errors="replace").strip()
                    if len(line) > MAX_HINT_BYTES:
                        self.reject(text[:40] + "...", f"longer than {MAX_HINT_BYTES} bytes")
                        continue
                    self.on_hint(text, arrived, cpu)
            self.tick()

    def timeout(self):
        if self.phase == "idle":
            return None
        now = time.monotonic()
        deadlines = [self.next_thermal, self.last_hint + self.config.watchdog_s]
        return max(0.0, min(deadlines) - now)

    def reject(self, line, problem):
        self.rejected += 1
        self.log(f"hint rejected: {line!r}: {problem} (nothing changed)")
        self.write_status()

    def on_hint(self, line, arrived, cpu):
        if not line:
            return
        try:
            phase, tokens, model = parse_hint(line, self.config)
        except HintError as exc:
            self.reject(line, str(exc))
            return
        self.hints += 1
        self.last_hint = arrived
        if (phase, model) == (self.phase, self.model) and (phase != "prefill" or tokens == self.tokens):
            return  # a keep-alive: the watchdog was reset above
        self.phase, self.tokens, self.model = phase, tokens, model
        if phase != "idle":
            self.step_heat()
        target_label, target = self.target()
        if phase != "idle" and not self.hot and self.next_thermal <= arrived:
            self.check_thermal()
            if self.hot:
                self.releases["thermal"] += 1
                self.log(f"thermal guard: {self.describe_temps()}; {target_label} held at the found settings")
        changes = self.apply({} if self.hot else target)
        done = time.monotonic()
        cpu_s = time.process_time() - cpu
        self.label = target_label
        self.last_apply = {"latency_s": done - arrived, "cpu_s": cpu_s, "knobs_written": changes}
        held = " [held: thermal guard]" if self.hot and phase != "idle" else ""
        self.log(
            f"hint {line!r} -> {target_label}{held}: {self.describe_pins()}; {changes} knob(s) written, "
            f"{(done - arrived) * 1e3:.3f} ms, cpu {cpu_s * 1e3:.3f} ms",
            done,
        )
        self.write_status(now=done)

    def target(self):
        if self.phase == "idle":
            return "idle", {}
        return self.config.plans[self.model].setting(self.phase, self.tokens, self.heat.level if self.heat else 0)

    def step_heat(self):
        """A phase starts: the heat level from the zones with passive trips (`HeatSteps`), logged when it moves."""
        if self.heat is None:
            return
        temps = self.read_temps(self.config.trip_files)
        before = self.heat.level
        after = self.heat.update(temps)
        if after != before:
            hottest = max(temps, key=lambda z: max(t.depth(temps[z]) for t in self.heat.trips if t.zone == z))
            self.log(f"heat: level {before} -> {after} of {self.heat.levels} ({hottest} {temps[hottest]:.1f} C)")

    def apply(self, target):
        """Move every knob to `target` (pinned) or back to its found setting; returns knobs written."""
        moves = []
        for name in sorted(self.found):
            want = target.get(name)
            if self.applied.get(name) != want or name in self.failed:
                found = self.found[name]
                moves.append((name, want, *((want, want) if want is not None else (found["min"], found["max"]))))
        problems = self.knobs.set_many([(name, low, high) for name, _, low, high in moves])
        for name, want, _, _ in moves:
            problem = problems[name]
            if problem:
                self.failed[name] = problem
                self.applied.pop(name, None)
                action = "release" if want is None else f"pin {want}"
                self.log(f"{name} {action} failed: {problem} (carrying on)")
            else:
                self.failed.pop(name, None)
                if want is None:
                    self.applied.pop(name, None)
                else:
                    self.applied[name] = want
        for name in sorted(set(target) - set(self.found)):
            self.failed[name] = "not pinned: its settings could not be read at start"
        return len(moves)

    def describe_pins(self):
        if not self.applied:
            return "all knobs as found"
        return ", ".join(f"{knob}={value}" for knob, value in sorted(self.applied.items()))

    def tick(self):
        """Periodic work: the thermal guard, then the watchdog."""
        if self.phase == "idle":
            return
        now = time.monotonic()
        if now >= self.next_thermal:
            was_hot = self.hot
            self.check_thermal()
            if self.hot and not was_hot:
                self.releases["thermal"] += 1
                self.apply({})
                self.log(f"thermal guard: {self.describe_temps()}; knobs returned to the found settings")
                self.write_status()
            elif was_hot and not self.hot:
                self.resumes += 1
                self.apply(self.target()[1])
                self.log(
                    f"thermal guard: cooled ({self.describe_temps()}); {self.label} pinned again: {self.describe_pins()}"
                )
                self.write_status()
        if now - self.last_hint >= self.config.watchdog_s:
            self.releases["watchdog"] += 1
            self.log(f"watchdog: no hint for {now - self.last_hint:.1f} s during {self.label}; pins released")
            self.phase, self.label = "idle", "idle (watchdog)"
            self.apply({})
            self.write_status()

    def check_thermal(self):
        """Read the guarded zones; hot at or above the limit, cool again below limit - hysteresis."""
        self.next_thermal = time.monotonic() + self.config.thermal_period_s
        temps = self.temps = self.read_temps(self.config.zones)
        hottest = max(temps.values()) if temps else None
        if hottest is None:
            return
        if hottest >= self.config.limit_c:
            self.hot = True
        elif hottest < self.config.limit_c - self.config.hysteresis_c:
            self.hot = False

    def read_temps(self, zones):
        """{zone: C} of the zones ({zone: temperature file}) whose file reads as millidegrees."""
        temps = {}
        for zone, (text,) in zip(zones, self.knobs.calls([[("read", path)] for path in zones.values()])):
            if isinstance(text, OSError):
                continue
            try:
                temps[zone] = int(text.split()[0]) / 1000.0
            except (ValueError, IndexError):
                continue
        return temps

    def describe_temps(self):
        if not self.temps:
            return "no zone readable"
        zone = max(self.temps, key=self.temps.get)
        return f"hottest {zone} {self.temps[zone]:.1f} C (limit {self.config.limit_c:.1f} C, resume below {self.config.limit_c - self.config.hysteresis_c:.1f} C)"

    def restore_all(self):
        failures = 0
        for name in sorted(self.found):
            problem = self.knobs.restore_one(name, self.found[name])
            if problem:
                failures += 1
                self.log(f"restore {name} failed: {problem}")
        self.applied.clear()
        if not failures:
            try:
                os.remove(self.path(STATE_FILE))
            except OSError:
                pass
        self.knobs.close()
        return failures

    def write_status(self, running=True, now=None):
        status = {
            "format": STATUS_FORMAT,
            "version": VERSION,
            "running": running,
            "pid": os.getpid(),
            "boot_id": self.boot_id,
            "started_boottime_s": self.started_boottime,
            "updated_monotonic_s": time.monotonic() if now is None else now,
            "phase": self.phase,
            "setting": self.label,
            "model": self.model if self.phase != "idle" else None,
            "prompt_tokens": self.tokens if self.phase == "prefill" else None,
            "pinned": dict(self.applied),
            "units": dict((n, k.unit) for n, k in self.config.knobs.items()),
            "failed": dict(self.failed),
            "hints_received": self.hints,
            "hints_rejected": self.rejected,
            "thermal": {
                "state": "hot" if self.hot else "ok",
                "temps_c": self.temps,
                "limit_c": self.config.limit_c,
                "hysteresis_c": self.config.hysteresis_c,
                "releases": self.releases["thermal"],
                "resumes": self.resumes,
            },
            "heat": {"level": self.heat.level, "levels": self.heat.levels} if self.heat else None,
            "watchdog": {"timeout_s": self.config.watchdog_s, "releases": self.releases["watchdog"]},
            "last_apply": self.last_apply,
        }
        try:
            write_atomic(self.path(STATUS_FILE), json.dumps(status))
        except OSError as exc:
            self.log(f"status: {describe(exc)}")


# --- entry points -------------------------------------------------------------------------------------


def running_pid(workdir):
    """The pid of a live daemon of this working directory (from its status file), or None."""
    try:
        status = json.loads(read_text(os.path.join(workdir, STATUS_FILE)))
    except (OSError, ValueError):
        return None
    pid = status.get("pid") if isinstance(status, dict) else None
    if not status.get("running") or not isinstance(pid, int) or status.get("boot_id") != boot_id():
        return None
    return pid if pid != os.getpid() and pid_alive(pid) else None


def cmd_run(args):
    workdir = os.path.abspath(args.dir)
    try:
        config = load_config(os.path.join(workdir, CONFIG_FILE))
    except ConfigError as exc:
        sys.stderr.write(f"fusegovd: bad configuration: {exc} (nothing written)\n")
        return EXIT_CONFIG
    other = running_pid(workdir)
    if other is not None:
        sys.stderr.write(f"fusegovd: already running as pid {other} in {workdir}\n")
        return EXIT_BUSY
    try:
        os.setsid()  # leave the starting shell's session: its hangup is not a SIGHUP meant for the daemon
    except OSError:
        pass  # already a session leader
    return Daemon(workdir, config).serve()


def cmd_restore(args):
    workdir = os.path.abspath(args.dir)
    other = running_pid(workdir)
    if other is not None:
        sys.stderr.write(f"fusegovd: a daemon (pid {other}) is running and owns the knobs: stop it instead\n")
        return EXIT_BUSY
    log = Log(os.path.join(workdir, LOG_FILE), 1 << 20)

    def both(message):
        log(message)
        print(message)

    if not os.path.exists(os.path.join(workdir, STATE_FILE)):
        both(f"restore: no state file in {workdir}: nothing to restore")
        return 0
    failures = restore_from_state(workdir, both, "restore")
    log.close()
    return 1 if failures else 0


def cmd_check(args):
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"fusegovd: bad configuration: {exc}\n")
        return EXIT_CONFIG
    version = "{}.{}".format(*sys.version_info[:2])
    print(f"ok: python {version}, {len(config.knobs)} knob(s), plans: {', '.join(sorted(config.plans))}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fusegovd.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="serve hints until stopped (foreground; `fusegov start` backgrounds it)")
    run.add_argument("--dir", required=True, help="working directory with config.json")
    restore = sub.add_parser("restore", help="put back the settings a crashed daemon saved")
    restore.add_argument("--dir", required=True, help="working directory with state.json")
    check = sub.add_parser("check", help="validate a configuration file and print the Python version")
    check.add_argument("config")
    args = parser.parse_args(argv)
    handlers = {"run": cmd_run, "restore": cmd_restore, "check": cmd_check}
    if args.command not in handlers:
        parser.print_help()
        return EXIT_CONFIG
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
