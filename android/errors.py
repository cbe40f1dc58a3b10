"""Specific exceptions that carry the device, the file and the allowed values."""

from __future__ import annotations


class FusegovError(Exception):
    """Base of every error fusegov reports to a user (the CLI prints the message, no traceback)."""


class UsageError(FusegovError):
    """What a user asked for is malformed or contradictory: an option's value, a frequency, a size, a pin, a
    file to read or write. The message names it and how to fix it."""


class DeviceError(FusegovError):
    """A device operation failed."""


class DevicePathError(DeviceError):
    """A path does not exist on the device."""

    def __init__(self, device: str, path: str, detail: str = "no such file or directory"):
        super().__init__(f"{device}: {path}: {detail}")
        self.device, self.path = device, path


class DevicePermissionError(DeviceError):
    """The write needs root (or the file is read-only)."""

    def __init__(self, device: str, path: str, detail: str = "permission denied"):
        super().__init__(f"{device}: {path}: {detail}")
        self.device, self.path = device, path


class InvalidValueError(DeviceError):
    """The kernel rejected a written value (EINVAL)."""

    def __init__(self, device: str, path: str, value: str, allowed: str = ""):
        msg = f"{device}: {path}: invalid value {value!r}"
        if allowed:
            msg += f" (allowed: {allowed})"
        super().__init__(msg)
        self.device, self.path, self.value, self.allowed = device, path, value, allowed


class WriteVerifyError(DeviceError):
    """A value read back after a write is not what was asked for."""


class NotRootedError(DeviceError):
    """The device gives no root shell."""


class ConnectionLostError(DeviceError):
    """The link to the device dropped (ADB disconnect, offline, unauthorized)."""


class ProfileError(FusegovError):
    """A virtual-phone profile is unknown or malformed."""


class ProbeError(FusegovError):
    """Discovery could not find a required component (e.g. no GPU)."""


class WorkloadError(FusegovError):
    """A workload description (LLM model, ONNX graph, request) is malformed or does not fit the phone."""


class TraceError(FusegovError):
    """A trace or input table is malformed."""
