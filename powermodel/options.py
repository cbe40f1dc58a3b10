"""Choices of the power-model command line, kept apart from the numeric code so `fusegov --help` stays light."""

from __future__ import annotations

FORMATS = ("auto", "fusegov", "armpm", "csv")
COUNTER_KINDS = ("delta", "total", "rate")
BAD_VALUE_POLICIES = ("drop", "refuse")
FREQ_UNITS = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UTIL_UNITS = ("pct", "fraction")
STRUCTURE_CHOICES = ("auto", "per-frequency", "clock", "voltage", "linear")
STOP_RULE_CHOICES = ("tol", "one-se")
INTERACTION_CHOICES = ("auto", "on", "off")
VARIANT_CHOICES = ("linear", "combined", "auto")
