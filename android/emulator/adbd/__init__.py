"""The virtual phone's adbd: the ADB device transport over loopback TCP (`fusegov emulate`)."""

from android.emulator.adbd.server import AdbServer

__all__ = ["AdbServer"]
