"""Samplers and workload runners that turn a phone's activity into traces."""

from collectors.virtual_gpu import virtual_gpu_trace, virtual_workloads

__all__ = ["virtual_gpu_trace", "virtual_workloads"]
