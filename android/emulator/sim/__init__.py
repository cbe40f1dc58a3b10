"""Physics of the virtual phone: workloads, power, counters, thermal and the stock governors."""
