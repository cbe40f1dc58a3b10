"""Renderers of the virtual phone's state as sysfs files, one module per kernel interface."""
