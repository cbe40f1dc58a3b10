"""The daemon package's error: everything a user can get wrong deploying or driving fusegovd."""

from __future__ import annotations

from android.errors import FusegovError


class DaemonError(FusegovError):
    """Deploying, starting, stopping or talking to the on-phone daemon failed; the message says why and how
    to fix it."""
