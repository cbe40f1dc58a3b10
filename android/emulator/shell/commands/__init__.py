"""The commands the virtual phone's shell knows; importing this package registers them all."""

from android.emulator.shell import pyrun  # noqa: F401  (python3)
from android.emulator.shell.commands import builtins, files, llama, ortperf, system, test, text  # noqa: F401
