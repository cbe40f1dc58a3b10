"""Unified CPU x GPU x memory DVFS governor: search, plans and runtime."""
