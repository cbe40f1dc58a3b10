"""The on-phone governor daemon (fusegovd.py, stdlib only, runs as root on the phone), its phase-hint
wrapper (fusegov_hint.py), and the host side that deploys and drives them over adb (`fusegov deploy`,
`start`, `stop`, `status`, `restore`, `hint`, `logs`)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DAEMON_SCRIPT = HERE / "fusegovd.py"
HINT_SCRIPT = HERE / "fusegov_hint.py"
