"""Driving fusegovd on a phone over adb: deploy, start, stop, status, restore, hint, logs.

Everything runs through AdbDevice (one persistent shell for reads; root through `su -c`). The daemon and
the hint wrapper run with the Python that deploy found (Termux's, or --python PATH), recorded in
WORKDIR/python so later commands use the same one.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from android.daemon import DAEMON_SCRIPT, HINT_SCRIPT
from android.daemon.config import GuardOptions, build_config
from android.daemon.errors import DaemonError
from android.device import Device, ShellResult
from android.errors import DeviceError
from android.probe import probe_device
from android.units import from_native

if TYPE_CHECKING:
    from governor.plan import Plan

DEFAULT_WORKDIR = "/data/local/tmp/fusegov"
TERMUX_PYTHON = "/data/data/com.termux/files/usr/bin/python3"
MIN_PYTHON = (3, 8)
PYTHON_FILE, CONFIG_FILE, STATUS_FILE, STATE_FILE = "python", "config.json", "status.json", "state.json"
LOG_FILE, OUT_FILE = "fusegovd.log", "fusegovd.out"
POLL_S = 0.1
NO_PYTHON_HELP = (
    "{serial}: no Python on the phone (phones ship none). Install Termux from F-Droid "
    "(https://f-droid.org/packages/com.termux/), open it once and run `pkg install python`: that puts "
    f"python3 at {TERMUX_PYTHON}, where `fusegov deploy` looks. Or push any Python >= 3.8 built for the "
    "phone (e.g. to /data/local/tmp/python/bin/python3) and pass --python PATH."
)


@dataclass(frozen=True)
class DeployReport:
    serial: str
    model: str
    soc: str
    python: str
    python_version: str
    workdir: str
    config: dict[str, Any]


class DaemonRemote:
    """fusegovd in `workdir` on the phone behind `device` (an AdbDevice: it needs `root_shell`)."""

    def __init__(self, device: Device, workdir: str = DEFAULT_WORKDIR):
        if not hasattr(device, "root_shell"):
            raise DaemonError("the daemon runs on a phone reached through adb: use --serial SERIAL")
        if not workdir.startswith("/") or any(c.isspace() or c in "'\"\\$`;&|<>" for c in workdir):
            raise DaemonError(f"--dir {workdir!r}: give an absolute path without spaces or shell characters")
        self.device, self.workdir = device, workdir.rstrip("/") or "/"

    def path(self, name: str) -> str:
        return f"{self.workdir}/{name}"

    def root(self, command: str, timeout_s: float = 60.0) -> ShellResult:
        return self.device.root_shell(command, timeout_s)  # type: ignore[attr-defined]

    # --- deploy -------------------------------------------------------------------------------
    def python_version(self, python: str) -> tuple[int, int] | None:
        code = "import sys; print('%d.%d' % sys.version_info[:2])"
        result = self.root(f"{shlex.quote(python)} -c {shlex.quote(code)}", timeout_s=60)
        words = result.stdout.strip().split()
        if not result.ok or not words or words[-1].count(".") != 1:
            return None
        major, minor = words[-1].split(".")
        return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None

    def find_python(self, explicit: str | None = None) -> tuple[str, tuple[int, int]]:
        """The interpreter to run the daemon with: --python, else Termux's, else python3 on the PATH."""
        serial = self.device.name
        if explicit:
            if "/" in explicit and not self.root(f"test -x {shlex.quote(explicit)}").ok:
                raise DaemonError(f"--python {explicit}: no executable file there on {serial}")
            version = self.python_version(explicit)
            if version is None:
                raise DaemonError(f"--python {explicit}: does not run as a Python interpreter on {serial}")
            candidates = [(explicit, version)]
        else:
            candidates = []
            for python in (TERMUX_PYTHON, "python3"):
                exists = self.root(
                    f"test -x {shlex.quote(python)}" if "/" in python else f"command -v {python} >/dev/null"
                ).ok
                version = self.python_version(python) if exists else None
                if version is not None:
                    candidates.append((python, version))
                    break
            if not candidates:
                raise DaemonError(NO_PYTHON_HELP.format(serial=serial))
        python, version = candidates[0]
        if version < MIN_PYTHON:
            raise DaemonError(
                f"{python} on {serial} is Python {version[0]}.{version[1]}; fusegovd needs >= 3.8 "
                "(in Termux: `pkg upgrade python`)"
            )
        return python, version

    def deploy(self, plans: list[Plan], guard: GuardOptions | None = None, python: str | None = None) -> DeployReport:
        """Check root and Python, refuse plans made for another phone, push daemon, wrapper and config."""
        device = self.device
        if not device.is_rooted():
            raise DaemonError(
                f"{device.name}: the phone gives no root shell; fusegovd writes kernel knobs and needs root "
                "(root it, e.g. with Magisk, or use a userdebug build with `adb root`)"
            )
        info = probe_device(device)
        config = build_config(plans, info, guard)
        running = self.running_pid()
        if running is not None:
            raise DaemonError(f"fusegovd is running (pid {running}) on {device.name}: `fusegov stop` it first")
        python, version = self.find_python(python)
        if not device.shell(f"mkdir -p {self.workdir}").ok and not device.is_dir(self.workdir):
            self.root(f"mkdir -p {self.workdir} && chmod 0777 {self.workdir}")
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / "config.json"
            staged.write_text(json.dumps(config, indent=1))
            (Path(tmp) / PYTHON_FILE).write_text(python + "\n")
            for local, name in (
                (DAEMON_SCRIPT, DAEMON_SCRIPT.name),
                (HINT_SCRIPT, HINT_SCRIPT.name),
                (staged, CONFIG_FILE + ".new"),
                (Path(tmp) / PYTHON_FILE, PYTHON_FILE),
            ):
                try:
                    device.push(local, self.path(name))
                except DeviceError as exc:
                    raise DaemonError(f"cannot push {name} to {self.workdir}: {exc}") from None
        check = self.root(
            f"{shlex.quote(python)} {self.path(DAEMON_SCRIPT.name)} check {self.path(CONFIG_FILE)}.new "
            f"&& mv {self.path(CONFIG_FILE)}.new {self.path(CONFIG_FILE)}"
        )
        if not check.ok:
            raise DaemonError(
                f"the daemon on {device.name} refused the configuration: {(check.stderr or check.stdout).strip()}"
            )
        return DeployReport(
            device.name, info.model, info.soc, python, f"{version[0]}.{version[1]}", self.workdir, config
        )

    def python(self) -> str:
        try:
            python = self.device.read(self.path(PYTHON_FILE)).strip()
        except DeviceError:
            python = ""
        if not python:
            raise DaemonError(
                f"fusegovd is not deployed in {self.workdir} on {self.device.name}: run `fusegov deploy` first"
            )
        return python

    # --- state of the daemon ------------------------------------------------------------------
    def _files(self) -> dict[str, str | None]:
        names = [STATUS_FILE, STATE_FILE, CONFIG_FILE, OUT_FILE]
        found = self.device.read_many([self.path(n) for n in names] + ["/proc/uptime"])
        return {n: found[self.path(n)] for n in names} | {"uptime": found["/proc/uptime"]}

    def alive(self, pid: int) -> bool:
        return self.root(f"kill -0 {int(pid)}").ok

    def running_pid(self) -> int | None:
        status = _json_or_none(self._files()[STATUS_FILE])
        pid = status.get("pid") if status else None
        if status and status.get("running") and isinstance(pid, int) and self.alive(pid):
            return pid
        return None

    def status(self) -> dict[str, Any]:
        """What `fusegov status` shows; frequencies in Hz."""
        files = self._files()
        status = _json_or_none(files[STATUS_FILE])
        state_file = files[STATE_FILE] is not None
        report: dict[str, Any] = {
            "serial": self.device.name,
            "workdir": self.workdir,
            "deployed": files[CONFIG_FILE] is not None,
            "running": False,
            "state_file": state_file,
        }
        if status is None:
            return report
        pid = status.get("pid")
        running = bool(status.get("running")) and isinstance(pid, int) and self.alive(pid)
        units = status.get("units", {})
        uptime = None
        if running and files["uptime"] and status.get("started_boottime_s") is not None:
            uptime = float(files["uptime"].split()[0]) - float(status["started_boottime_s"])
        report.update(
            running=running,
            crashed=bool(status.get("running")) and not running,
            pid=pid,
            uptime_s=uptime,
            phase=status.get("phase") if running else None,
            setting=status.get("setting") if running else None,
            model=status.get("model") if running else None,
            prompt_tokens=status.get("prompt_tokens") if running else None,
            pinned_hz={k: from_native(v, units.get(k, "hz")) for k, v in status.get("pinned", {}).items()}
            if running
            else {},
            failed=status.get("failed", {}),
            hints_received=status.get("hints_received", 0),
            hints_rejected=status.get("hints_rejected", 0),
            thermal=status.get("thermal", {}),
            heat=status.get("heat"),
            watchdog=status.get("watchdog", {}),
            last_apply=status.get("last_apply"),
        )
        return report

    # --- start, stop, restore, hint, logs -----------------------------------------------------
    def start(self, wait_s: float = 20.0) -> dict[str, Any]:
        python = self.python()
        files = self._files()
        if files[CONFIG_FILE] is None:
            raise DaemonError(f"no configuration in {self.workdir} on {self.device.name}: run `fusegov deploy` first")
        previous = _json_or_none(files[STATUS_FILE]) or {}
        running = self.running_pid()
        if running is not None:
            raise DaemonError(f"fusegovd is already running on {self.device.name} (pid {running})")
        w = self.workdir
        launched = self.root(
            f"cd {w} && nohup {shlex.quote(python)} {w}/{DAEMON_SCRIPT.name} run --dir {w} "
            f"< /dev/null > {w}/{OUT_FILE} 2>&1 &"
        )
        if not launched.ok:
            raise DaemonError(
                f"cannot start fusegovd on {self.device.name}: {(launched.stderr or launched.stdout).strip()}"
            )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            files = self._files()
            status = _json_or_none(files[STATUS_FILE]) or {}
            fresh = status.get("pid") != previous.get("pid") or status.get("started_boottime_s") != previous.get(
                "started_boottime_s"
            )
            if fresh and status.get("running"):
                return self.status()
            out = (files[OUT_FILE] or "").strip()
            if out.startswith("fusegovd:") or "Traceback" in out or (fresh and status and not status.get("running")):
                raise DaemonError(f"fusegovd did not start on {self.device.name}: {out or 'see `fusegov logs`'}")
            time.sleep(POLL_S)
        raise DaemonError(
            f"fusegovd did not report running within {wait_s:g} s on {self.device.name}; see `fusegov logs`"
        )

    def stop(self, wait_s: float = 20.0) -> str:
        status = _json_or_none(self._files()[STATUS_FILE])
        pid = status.get("pid") if status else None
        if not status or not status.get("running") or not isinstance(pid, int) or not self.alive(pid):
            left = self._files()[STATE_FILE] is not None
            return "fusegovd is not running" + (
                "; a state file is left from a daemon that died: `fusegov restore` puts its knobs back" if left else ""
            )
        self.root(f"kill -TERM {pid}")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and self.alive(pid):
            time.sleep(POLL_S)
        if self.alive(pid):
            self.root(f"kill -KILL {pid}")
            return f"fusegovd (pid {pid}) did not stop within {wait_s:g} s and was killed; " + self.restore()
        files = self._files()
        if files[STATE_FILE] is not None:
            raise DaemonError(
                f"fusegovd (pid {pid}) stopped but could not restore every knob (state kept); see `fusegov logs`, "
                "then `fusegov restore`"
            )
        return f"fusegovd (pid {pid}) stopped; knobs restored to the settings it found"

    def restore(self) -> str:
        python = self.python()
        result = self.root(
            f"{shlex.quote(python)} {self.path(DAEMON_SCRIPT.name)} restore --dir {self.workdir}", timeout_s=120
        )
        text = (result.stdout + result.stderr).strip()
        if not result.ok:
            raise DaemonError(f"restore on {self.device.name} failed: {text}")
        return text

    def hint(self, phase: str, tokens: int | None = None, model: str | None = None) -> None:
        python = self.python()
        words = [python, self.path(HINT_SCRIPT.name), "send", "--dir", self.workdir, phase]
        words += [str(tokens)] if tokens is not None else []
        words += ["--model", model] if model else []
        result = self.root(" ".join(shlex.quote(w) for w in words))
        if not result.ok:
            message = (result.stderr or result.stdout).strip().removeprefix("fusegov_hint: ")
            raise DaemonError(f"hint {phase!r} on {self.device.name}: {message}")

    def logs(self, lines: int | None = None) -> str:
        try:
            text = self.device.read(self.path(LOG_FILE))
        except DeviceError:
            raise DaemonError(f"no daemon log in {self.workdir} on {self.device.name} (never started?)") from None
        if lines is not None:
            text = "\n".join(text.splitlines()[-lines:])
        return text


def _json_or_none(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
