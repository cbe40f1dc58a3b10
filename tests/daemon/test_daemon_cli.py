"""The `fusegov` commands for the daemon, as a user runs them, against the virtual phone over real adb:
what they print, --json, and `fusegov CMD: error: ...` with exit status 1 for what a user gets wrong."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.daemon.conftest import wait_for
from tests.daemon.plans import phase_setting
from tests.helpers.adb import REPO

pytestmark = pytest.mark.slow


def fusegov(daemon_phone, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "governor.cli", *args],
        cwd=REPO,
        env=daemon_phone.server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_daemon_commands(daemon_phone, remote, plan_path, controller, user_limits):
    where = ["--serial", daemon_phone.serial, "--dir", remote.workdir]
    out = fusegov(daemon_phone, "hint", *where, "decode")
    assert out.returncode == 1 and "fusegov hint: error:" in out.stderr and "fusegov deploy" in out.stderr
    out = fusegov(daemon_phone, "deploy", *where, str(plan_path), "--watchdog", "600")
    assert out.returncode == 0, out.stderr
    assert "deployed to" in out.stdout and "Python 3." in out.stdout and "watchdog 600 s" in out.stdout
    out = fusegov(daemon_phone, "start", *where)
    assert out.returncode == 0 and "fusegovd started" in out.stdout, out.stderr
    assert fusegov(daemon_phone, "hint", *where, "prefill", "300").returncode == 0
    status = wait_for(
        lambda: (s := json.loads(fusegov(daemon_phone, "status", *where, "--json").stdout))["phase"] == "prefill" and s,
        "the prefill hint",
    )
    assert status["running"] and status["prompt_tokens"] == 300 and status["uptime_s"] > 0
    assert status["pinned_hz"] == phase_setting(json.loads(plan_path.read_text()), "prefill")
    text = fusegov(daemon_phone, "status", *where).stdout
    assert "running, pid" in text and "phase:    prefill 300 tokens" in text and "pinned:   gpu 848 MHz" in text
    out = fusegov(daemon_phone, "hint", *where, "decode", "12")
    assert out.returncode == 1 and "decode takes no token count" in out.stderr
    logs = fusegov(daemon_phone, "logs", *where, "--lines", "1").stdout
    assert len(logs.splitlines()) == 1 and "hint 'prefill 300" in logs
    out = fusegov(daemon_phone, "stop", *where)
    assert out.returncode == 0 and "knobs restored" in out.stdout
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits
    assert "not running" in fusegov(daemon_phone, "status", *where).stdout
