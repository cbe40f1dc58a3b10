"""Samplers and workload runners that turn a phone's activity into traces."""
