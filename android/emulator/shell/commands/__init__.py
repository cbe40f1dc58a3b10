"""The commands the virtual phone's shell knows; importing this package registers them all."""

from android.emulator.devices import scripts  # noqa: F401  (python3's ioctl/mmap on /dev/kgsl-3d0, /dev/mali0)
from android.emulator.shell import pyrun  # noqa: F401  (python3)
from android.emulator.shell.commands import builtins, files, llama, ortperf, system, test, text, timeout  # noqa: F401
