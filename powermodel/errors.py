"""The power model's own error class: a problem with fitting, evaluating or a model file, not with the trace."""

from __future__ import annotations

from android.errors import FusegovError


class PowerModelError(FusegovError):
    """A power-model problem the user can fix: a column mapping, an option, a split, a model file, data that
    cannot support the model asked for. (A malformed input file is `android.errors.TraceError`.)"""
