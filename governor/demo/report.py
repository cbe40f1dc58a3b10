"""What the demo prints after each step and the Markdown report it writes: both formatted here, from the
results the steps returned (the same dict `demo.json` holds), so the report shows exactly what was measured."""

from __future__ import annotations

from pathlib import Path

REPORT_NAME = "report.md"
RESULTS_NAME = "demo.json"

# the replay table: (column header, key in a policy's summary, scale, decimals)
TABLE_COLUMNS = (
    ("TTFT mean (s)", "ttft_mean_s", 1.0, 3),
    ("TTFT p99 (s)", "ttft_p99_s", 1.0, 3),
    ("TPOT mean (ms)", "tpot_mean_s", 1e3, 1),
    ("end-to-end mean (s)", "latency_mean_s", 1.0, 2),
    ("energy per token (J)", "energy_per_token_j", 1.0, 4),
    ("total energy (J)", "energy_total_j", 1.0, 1),
    ("measurements", "measurements", 1, 0),
    ("search device time (s)", "device_time_s", 1.0, 0),
)


def mhz(freq_hz: float) -> str:
    return f"{freq_hz / 1e6:.0f}"


def short(counter: str) -> str:
    """`pmc.SHADER_CORE.EXEC_ICACHE_MISS` -> `SHADER_CORE.EXEC_ICACHE_MISS`."""
    return counter.partition(".")[2] or counter


def collect_line(c: dict) -> str:
    phases = ", ".join(f"{phase} {n}" for phase, n in c["samples_per_phase"].items())
    return (
        f"traced {len(c['workloads'])} workloads at GPU {', '.join(mhz(f) for f in c['gpu_freqs_hz'])} MHz, "
        f"{c['trace_s_per_workload']:g} s each: {c['samples']} samples ({phases}), {c['counters']} GPU counters, "
        f"{c['dropped']} dropped"
    )


def fit_line(f: dict) -> str:
    base = f["baseline_mape_pct"]
    against = (
        "no utilisation-frequency baseline (the trace has no utilisation)"
        if base is None
        else f"utilisation-frequency baseline {base:.2f}% ({base / f['model_mape_pct']:.2f}x lower)"
    )
    return (
        f"held-out MAPE {f['model_mape_pct']:.2f}% vs {against}, {len(f['counters'])} of {f['n_available']} "
        "counters: " + ", ".join(short(c) for c in f["counters"])
    )


def timeline_line(t: dict) -> str:
    parts = [
        f"{name} TTFT {p['ttft_s']:.2f} s, TPOT {p['tpot_s'] * 1e3:.1f} ms, {p['energy_j']:.1f} J"
        for name, p in t["policies"].items()
    ]
    return f"one request, {t['prompt_tokens']} prompt + {t['output_tokens']} output tokens: " + "; ".join(parts)


def cell(value, scale, decimals: int) -> str:
    return f"{value * scale:.{decimals}f}"


def replay_table(policies: dict) -> list[str]:
    """The side-by-side table as Markdown, then each policy's change against stock."""
    lines = [
        "| policy | " + " | ".join(h for h, *_ in TABLE_COLUMNS) + " |",
        "|---|" + "---:|" * len(TABLE_COLUMNS),
    ]
    for name, p in policies.items():
        lines.append(f"| {name} | " + " | ".join(cell(p[key], s, d) for _, key, s, d in TABLE_COLUMNS) + " |")
    stock = policies.get("stock")
    if stock:
        lines += ["", "| policy | TTFT vs stock | TPOT vs stock | energy per token vs stock |", "|---|---:|---:|---:|"]
        for name, p in policies.items():
            changes = (p[k] / stock[k] - 1 for k in ("ttft_mean_s", "tpot_mean_s", "energy_per_token_j"))
            lines.append(f"| {name} | " + " | ".join(f"{c:+.1%}" for c in changes) + " |")
    return lines


def _caps_paragraph(step: dict) -> list[str]:
    """A sentence saying which pinned knobs the thermal framework capped during the step, if any."""
    from governor.demo.steps import caps_line

    line = caps_line(step.get("thermal_caps") or {})
    return [f"During this step {line[0].lower()}{line[1:]}.", ""] if line else []


def write_report(results: dict, out: Path) -> Path:
    """out/report.md from the steps' results."""
    c, f, p, r, t = (results[k] for k in ("collect", "fit", "plan", "replay", "timeline"))
    wall = results["wall_s"]
    fusegov, fuse = p["plans"]["fusegov"], p["plans"]["fuse"]
    lines = [
        f"# fusegov demo: {results['model']} on the virtual {results['profile']}",
        "",
        f"`{results['command']}` ({results['size']['name']} size, seed {results['seed']}), "
        f"{wall['total']:.0f} s wall. Every figure below was measured by this run; the raw results are in "
        f"[`{RESULTS_NAME}`]({RESULTS_NAME}).",
        "",
        f"## 1. Traces ({wall['collect']:.0f} s)",
        "",
        collect_line(c) + ".",
        "",
        "Workloads: " + ", ".join(f"`{w}`" for w in c["workloads"]) + f". Trace: [`{c['trace']}`]({c['trace']}) "
        "(Parquet, the fusegov trace schema), sampled by the collectors' on-device sampler on the in-process "
        "virtual phone while its `llama-cli` and `onnxruntime_perf_test` ran.",
        "",
        f"![one LLM's trace]({c['plot']})",
        "",
        f"## 2. GPU power model ({wall['fit']:.0f} s)",
        "",
        fit_line(f) + ".",
        "",
        f"Held out (never seen in training): {', '.join(f'`{w}`' for w in f['held_out'])}. Structure "
        f"`{f['structure']}`: {f['structure_reason']}. Model [`{f['model']}`]({f['model']}), full summary "
        f"[`{f['summary']}`]({f['summary']}). The same fit on the command line:",
        "",
        "```bash",
        f["command"],
        "```",
        "",
        "| held-out workload | samples | model MAPE (%) | baseline MAPE (%) |",
        "|---|---:|---:|---:|",
    ]
    for workload, row in f["per_workload"].items():
        base = row.get("baseline_mape_pct")
        lines.append(
            f"| {workload} | {row['n']} | {row['model_mape_pct']:.2f} | {'-' if base is None else f'{base:.2f}'} |"
        )
    lines += [""] + [f"![{Path(plot).stem}]({plot})" for plot in f["plots"]]
    lines += [
        "",
        f"## 3. Plans ({wall['plan']:.0f} s)",
        "",
        f"Goal {p['goal']['goal']} (G1: lowest latency at no more energy per token than the stock governors), "
        f"buckets {', '.join(p['buckets'])}. fusegov spent {fusegov['measurements']} measurements "
        f"({fusegov['device_time_s']:.0f} s of device time), FUSE {fuse['measurements']} "
        f"({fuse['device_time_s']:.0f} s). Plans: "
        + ", ".join(f"[`{q['plan']}`]({q['plan']})" for q in p["plans"].values())
        + ".",
        "",
    ]
    for name in ("fusegov", "fuse"):
        lines += ["```", p["plans"][name]["text"], "```", ""]
    lines += [
        f"## 4. Replay ({wall['replay']:.0f} s)",
        "",
        f"{r['count']} ShareGPT requests (`{r['requests']}`: mean {r['mean_prompt_tokens']:.1f} prompt and "
        f"{r['mean_output_tokens']:.1f} output tokens) under each policy; energy per token is all energy over "
        "prompt + output tokens; measurements are the runs each search spent.",
        "",
        *replay_table(r["policies"]),
        "",
        *_caps_paragraph(r),
        f"![latency/energy frontier]({r['plot']})",
        "",
        f"## 5. One request over time ({wall['timeline']:.0f} s)",
        "",
        timeline_line(t) + ".",
        "",
        *_caps_paragraph(t),
    ]
    lines += [f"![{name}]({q['plot']})" for name, q in t["policies"].items()]
    path = out / REPORT_NAME
    path.write_text("\n".join(lines) + "\n")
    return path
