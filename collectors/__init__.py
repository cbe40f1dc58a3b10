"""Samplers and workload runners that turn a phone's activity into traces.

collectors.collect.collect (one collection), collectors.sweep.collect_sweep (workloads x pinned settings),
collectors.trace (the schema), collectors/device/sampler.py (what runs on the phone)."""
