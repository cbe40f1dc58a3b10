"""Errors of the collectors: everything a user can cause while collecting is a CollectorError."""

from __future__ import annotations

from android.errors import FusegovError


class CollectorError(FusegovError):
    """A collection cannot go on: no root, counters that cannot be opened, a missing workload binary or
    model, a period too short for the phone, a dropped link. The message names the problem and the fix;
    `partial` holds what was collected before the failure (a trace path or None)."""

    def __init__(self, message: str, partial: object = None):
        super().__init__(message)
        self.partial = partial
