"""The governor's errors: everything a user can cause while planning or evaluating raises GovernorError."""

from __future__ import annotations

from android.errors import FusegovError


class GovernorError(FusegovError):
    """A search, plan or evaluation cannot go on; the message names the problem and the option that fixes it."""
