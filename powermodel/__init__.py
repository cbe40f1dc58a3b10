"""Mobile GPU power models fitted from performance counters (APGPM-style)."""
