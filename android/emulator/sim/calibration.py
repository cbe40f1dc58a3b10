"""The virtual Pixel 7 against FUSE's measurements on a real one (REFERENCES.md 1; issue 9's table).

`FIGURES` are the paper's figures with their tolerances; `measure()` runs the experiments behind each on
the virtual phone (stock governors, the GPU or memory governor alone, pinned settings, lowered clocks)
and returns one `Measured` per figure. bench/bench_fidelity.py prints the table; the tests hold it.

"Stock slower than the best pinned setting at equal energy" is computed, not assumed: a steady-state
screen of the whole pinned grid (CPU x GPU x memory tables of the phone; kernel timings from the
pipeline model and power from the power model, vectorised over the grid) ranks the settings whose energy
per token is within reach of the stock run's, and the fastest few are run for real, round after round
while the screen still expects faster ones; the fastest that uses no more energy than stock wins. Where the paper's figures cannot all hold at once, the figure says
so in `conflict` (the report prints it): those rows are held to a looser band by the tests.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from android.emulator.phone import VirtualPhone
from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.llm import BATCH_TOKENS, LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.sim.power import PowerInputs
from android.emulator.sim.request import RequestResult, run_llm_request

MHZ = 1_000_000
PROFILE = "pixel7"
TINY, STABLELM, LLAMA2 = "tinyllama-1.1b-q4", "stablelm-2.7b-q4", "llama2-7b-q4"
PROMPT, DECODE = 232, 70  # the mean ShareGPT request FUSE replayed
VERIFY = 6  # pinned settings run for real per round after the screen
ROUNDS = 6  # rounds of verification before settling for the best found
SCREEN_MARGIN = 1.04  # the screen keeps settings whose estimated energy is within 4% of the budget

CONFLICTS = {
    "tpot_stock": (
        "FUSE's all-stock TPOT (210.7 ms, EAS at ~1 GHz) is *below* its GPU-governor-alone TPOT (215.1 ms, CPU "
        "pinned at 1826 MHz) at the same effective GPU clock, yet in b2202 the CPU thread waits for every matrix "
        "product (a blocking clEnqueueReadBuffer after each kernel) and runs the rest of the graph between them, "
        "so a slower CPU can only lengthen the token (FUSE's own lowered-CPU row shows the CPU clock matters). The "
        "virtual phone keeps that cost: its all-stock token at ~400 MHz is ~20% longer than its GPU-alone one and "
        "~13% longer than FUSE's, and the TPOT gap to the best pinned setting at equal energy grows with it."
    ),
    "gpu_decode_stock": (
        "FUSE's ~71% GPU utilisation at 411-424 MHz sits on the gs201 DVFS table's 400 MHz floor (device tree "
        "gpu_dvfs_table_v2: 400 MHz holds 72-92% with 4 periods of hysteresis, 351 MHz 70-90%). The Mali driver's "
        "utilisation is the GPU_ACTIVE counter (cycles with work queued, running or stalled), which also counts the "
        "GPU side of each job's dispatch; with it the virtual GPU is ~73-74% busy at 400 MHz and Quickstep holds "
        "there, but a point or two less busy drops it to 351 MHz for good (351 MHz steps up only above 90%). Decode "
        "never exceeds 92% at 400 MHz, so the virtual clock stays at 400 rather than FUSE's few excursions above it."
    ),
    "stablelm": (
        "The StableLM/TinyLlama latency ratio at 762 vs 848 MHz (2.55) needs the GPU to be ~78% of TinyLlama's "
        "decode token at 848 MHz, while TinyLlama's GPU-alone/pinned ratio (215.1/126.9) needs ~64%; one GPU "
        "model cannot give both. The virtual phone follows TinyLlama, so StableLM decodes a few percent faster "
        "than measured, and its GPU-alone run, whose bigger kernels keep the GPU busier, settles at 471 MHz, a "
        "Quickstep level above FUSE's (~400 MHz implied), ~20% faster. Its stock-vs-pinned TPOT gap hangs on one "
        "setting: CPU 1426 / GPU 701 / memory 1352 MHz costs within ~0.2% of the stock energy, and the gap is ~35% "
        "when it fits the budget and ~21% (the next setting, GPU 572 MHz) when it does not."
    ),
    "ttft_gap": (
        "FUSE's stock TTFT is 'up to' 40.4% (TinyLlama) and 23.0% (StableLM) longer than the best pinned setting at "
        "equal energy. Its own figures for the stock prefill (17.5% CPU-busy, GPU 681-811 MHz effective, EAS near "
        "750 MHz) bound what pinning the CPU and GPU clocks can gain at one prompt length to "
        "1/(1 - 0.175(1 - 750/2850) - 0.825(1 - f_gpu/848)): 20% at 811 MHz up to 41% at 681 MHz. The virtual stock "
        "prefill of the 232-token request runs the GPU at ~795 MHz (b2202 sends the attention products of a prompt "
        "batch to the GPU too, so only softmax and the per-head read-backs keep the thread busy) and its gap is ~20%; "
        "it grows with the prompt (19-23% up to 232 tokens, 31% at 384, 47% at 512) as the thread's softmax stretches "
        "drop Quickstep to ~685 MHz, so FUSE's 'up to' figure is reached at its longer prompts."
    ),
    "mem_alone": (
        "FUSE's energy optimum (313.5 mJ at 152.4 ms: 2.06 W) is 1.06 W below its 848 MHz point (3.12 W) but only "
        "0.19 W above its GPU-alone stock point (1.87 W at ~415 MHz). With GPU power following V^2 f, a token of "
        "~150 ms needs the GPU at >= 700 MHz, where it draws ~1 W, so the virtual phone's lowest-energy setting "
        "is a slower one (~180 ms) at about FUSE's energy."
    ),
    "cpu_lowered": (
        "With the CPU lowered to 500 MHz FUSE saw the GPU 52.9% busy; that needs ~2x more CPU work per token "
        "than lets the all-stock GPU keep 351-400 MHz (with that CPU share the all-stock GPU drops below 351 MHz "
        "and the all-stock token grows past 300 ms)."
    ),
}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    paper: float | tuple[float, float]  # a value, or the range the paper gives
    unit: str
    tolerance: float
    relative: bool = True  # tolerance as a share of the paper's value, else in `unit` (points)
    conflict: str = ""  # a key of CONFLICTS: why this row cannot hold together with the others
    in_kind: tuple[float, float] | None = None  # for a conflict row: the band it must still hold (the effect)

    def bounds(self) -> tuple[float, float]:
        low, high = self.paper if isinstance(self.paper, tuple) else (self.paper, self.paper)
        if self.relative:
            return low * (1 - self.tolerance), high * (1 + self.tolerance)
        return low - self.tolerance, high + self.tolerance


@dataclass
class Measured:
    figure: Figure
    value: float
    note: str = ""

    @property
    def inside(self) -> bool:
        low, high = self.figure.bounds()
        return low <= self.value <= high

    @property
    def error(self) -> float:
        """Relative error against the paper's value (or the nearest end of its range), 0 inside a range."""
        paper = self.figure.paper
        low, high = paper if isinstance(paper, tuple) else (paper, paper)
        if low <= self.value <= high:
            return 0.0
        edge = low if self.value < low else high
        return (self.value - edge) / edge


FIGURES = (
    Figure("tpot_gpu_alone", "GPU governor alone (CPU 1826, MEM 3172), TinyLlama decode TPOT", 215.1, "ms", 0.10),
    Figure("e_gpu_alone", "  same, decode energy per token", 402.7, "mJ", 0.10),
    Figure("tpot_848", "  same, GPU pinned 848 MHz: TPOT", 126.9, "ms", 0.05),
    Figure("e_848", "  same, GPU pinned 848 MHz: energy per token", 396.5, "mJ", 0.05),
    Figure(
        "tpot_stablelm_alone",
        "GPU governor alone, StableLM decode TPOT",
        495.0,
        "ms",
        0.10,
        conflict="stablelm",
        in_kind=(350.0, 545.0),
    ),
    Figure("e_stablelm_alone", "  same, energy per token", 937.5, "mJ", 0.10),
    Figure(
        "tpot_stablelm_762",
        "  StableLM, GPU pinned 762 MHz: TPOT",
        323.6,
        "ms",
        0.05,
        conflict="stablelm",
        in_kind=(280.0, 340.0),
    ),
    Figure("e_stablelm_762", "  StableLM, GPU pinned 762 MHz: energy per token", 907.2, "mJ", 0.05),
    Figure(
        "gpu_decode_stock",
        "Effective stock GPU clock in decode, small models",
        (411.0, 424.0),
        "MHz",
        0.10,
        conflict="gpu_decode_stock",
        in_kind=(330.0, 466.0),
    ),
    Figure("gpu_decode_llama2", "Effective stock GPU clock in decode, Llama-2 7B", 624.0, "MHz", 0.10),
    Figure("gpu_prefill_stock", "Effective stock GPU clock in prefill", (681.0, 811.0), "MHz", 0.10),
    Figure("cpu_decode_stock", "EAS effective CPU clock in decode", (907.0, 1131.0), "MHz", 0.0),
    Figure(
        "cpu_levels", "  levels EAS alternates between (>= 5% of decode time each)", 2.0, "levels", 0.0, relative=False
    ),
    Figure("e_mem_alone", "Memory governor alone (energy-optimal CPU/GPU pinned): decode energy", 313.5, "mJ", 0.10),
    Figure("tpot_mem_alone", "  same, TPOT", 152.4, "ms", 0.10, conflict="mem_alone", in_kind=(137.0, 200.0)),
    Figure("mem_mem_alone", "  same, effective memory clock", 1020.0, "MHz", 0.10),
    Figure("mem_at_848", "GPU pinned 848 (CPU 1826): stock memory clock", 3172.0, "MHz", 0.0),
    Figure("e_mem_stock_848", "  decode energy with memory stock", 385.6, "mJ", 0.10),
    Figure("e_mem_2028_848", "  decode energy with memory pinned 2028 MHz", 363.4, "mJ", 0.10),
    Figure("util_cpu_prefill", "Stock CPU utilisation, prefill", 17.5, "%", 5.0, relative=False),
    Figure("util_cpu_decode", "Stock CPU utilisation, decode", 25.7, "%", 5.0, relative=False),
    Figure("util_gpu_decode", "Stock GPU utilisation, decode", 71.0, "%", 5.0, relative=False),
    Figure(
        "util_gpu_cpu_low",
        "GPU utilisation with the CPU lowered (500 MHz)",
        52.9,
        "%",
        5.0,
        relative=False,
        conflict="cpu_lowered",
        in_kind=(45.0, 70.0),
    ),
    Figure("util_cpu_gpu_low", "CPU utilisation with the GPU lowered (151 MHz)", 7.9, "%", 5.0, relative=False),
    Figure("ttft_stock", "All stock, 232 in / 70 out, TinyLlama: TTFT", 10.56, "s", 0.15),
    Figure("tpot_stock", "  same, TPOT", 210.7, "ms", 0.10, conflict="tpot_stock", in_kind=(189.0, 290.0)),
    Figure(
        "ttft_gap_tiny",
        "Stock TTFT longer than the best pinned setting at <= its energy, TinyLlama",
        40.4,
        "%",
        8.0,
        relative=False,
        conflict="ttft_gap",
        in_kind=(12.0, 60.0),
    ),
    Figure(
        "tpot_gap_tiny", "  same, TPOT", 31.8, "%", 8.0, relative=False, conflict="tpot_stock", in_kind=(20.0, 130.0)
    ),
    Figure(
        "ttft_gap_stablelm",
        "  same, StableLM: TTFT",
        23.0,
        "%",
        8.0,
        relative=False,
        conflict="ttft_gap",
        in_kind=(10.0, 60.0),
    ),
    Figure(
        "tpot_gap_stablelm",
        "  same, StableLM: TPOT",
        37.1,
        "%",
        8.0,
        relative=False,
        conflict="stablelm",
        in_kind=(20.0, 70.0),
    ),
)
LONG_NOTE = (
    "What reproduces it: the pinned side (the fastest single setting at no more energy) lands near FUSE's 42.5 s; "
    "the stock side is the drag-down over a long decode. FUSE's 115.15 s implies ~0.43 s per token, twice its own "
    "ShareGPT TPOT, i.e. CPU and GPU dragged to ~500 / ~250 MHz. The virtual phone's EAS keeps the thread's clamped "
    "level while it runs, so its stock run stays near 400 MHz GPU (about 1.6x the pinned time); without the "
    "uclamp prop (physics.sched.uclamp_min = 0) the CPU sits at 500 MHz, the GPU falls to ~325 MHz effective and "
    "the stock run takes ~2x the pinned time."
)
NOT_MEASURED = (
    "FUSE's own search (memory left stock), G1: TinyLlama TTFT/TPOT -14.4%/-25.4%, StableLM -7.0%/-35.2%, "
    "DS-Qwen -16.9%/-36.8%: measured by the governor's replay of ShareGPT requests, "
    "`python bench/bench_governor.py --part paper`."
)


@dataclass(frozen=True)
class Run:
    """One request on the virtual Pixel 7."""

    model: str
    prompt: int
    decode: int
    pins_mhz: tuple[tuple[str, int], ...] = ()
    seed: int = 0


@dataclass
class Outcome:
    """What the report needs from a run (picklable for a process pool)."""

    ttft_s: float
    tpot_s: float
    e_prefill_j: float  # per prompt token
    e_decode_j: float  # per generated token
    energy_j: float
    duration_s: float
    freq_mhz: dict[str, dict[str, float]]  # phase -> knob -> time-weighted MHz
    gpu_util: dict[str, float]
    cpu_util: dict[str, float]  # of the inference thread's policy
    levels: dict[str, dict[int, float]] = field(default_factory=dict)  # phase -> policy6 MHz -> share of time


def execute(run: Run) -> Outcome:
    """Run one request and keep what the figures are computed from."""
    phone = VirtualPhone(PROFILE, seed=run.seed)
    pins = {k: v * MHZ for k, v in run.pins_mhz}
    shares: dict[str, dict[int, float]] = {}

    def watch(block) -> None:  # time at each policy6 level, per phase
        for phase in ("prefill", "decode"):
            mask = block.phase == phase
            if mask.any():
                freq = (block.freq_hz["policy6"][mask] / MHZ).astype(int)
                spent = shares.setdefault(phase, {})
                for f, dt in zip(freq.tolist(), block.dt_s[mask].tolist()):
                    spent[f] = spent.get(f, 0.0) + dt

    result: RequestResult = run_llm_request(phone, run.model, run.prompt, run.decode, pins=pins, observers=[watch])
    phases = result.phases
    return Outcome(
        ttft_s=result.ttft_s,
        tpot_s=result.tpot_s or 0.0,
        e_prefill_j=result.energy_per_token_j["prefill"],
        e_decode_j=result.energy_per_token_j.get("decode", 0.0),
        energy_j=result.energy_j,
        duration_s=result.duration_s,
        freq_mhz={p: {k: v / MHZ for k, v in s.mean_freq_hz.items()} for p, s in phases.items()},
        gpu_util={p: s.gpu_util for p, s in phases.items()},
        cpu_util={p: s.cpu_util["policy6"] for p, s in phases.items()},
        levels={p: {f: t / sum(s.values()) for f, t in s.items()} for p, s in shares.items()},
    )


def _mean(outcomes: list[Outcome], get: Callable[[Outcome], float]) -> float:
    return statistics.fmean(get(o) for o in outcomes)


# --- the pinned grid ---------------------------------------------------------------------------
def screen(model: str, prompt: int, decode: int) -> dict[str, np.ndarray]:
    """Steady-state TTFT, TPOT and energy per token for every (CPU, GPU, memory) setting of the phone's
    inference policy, GPU and memory tables: kernel timings from the pipeline model, power from the power
    model with the other knobs at their floors, vectorised over the grid. An estimate for ranking only:
    runs on the phone add noise, background activity and the other governors."""
    phone = VirtualPhone(PROFILE)
    sim = phone.sim
    llm = load_model(model)
    request = LlmRequest(llm, prompt, decode)
    request.prepare(sim.physics, sim.fingerprint)
    ph = sim.physics
    bind = lambda s: s.bind(ph.gpu, ph.memory, ph.driver, sim.queue_depth, sim.fingerprint)  # noqa: E731
    past = prompt + decode // 2
    bucket = (past // 32) * 32 + 16
    prefill = [(bind(request.stream(("layer", min(prompt, BATCH_TOKENS), 0))), llm.layers)]
    prefill.append((bind(request.stream(("head",))), 1))
    token = [(bind(request.stream(("layer", 1, bucket))), llm.layers), (bind(request.stream(("head",))), 1)]
    policy = sim.cpu_policy[sim.default_cpu]
    tables = {k: sim.tables[k] for k in (policy, "gpu", "mem")}
    grid = list(itertools.product(*(range(len(t)) for t in tables.values())))
    out = {"levels": np.array(grid)}
    for name, units in (("prefill", prefill), ("decode", token)):
        time_s = np.zeros(len(grid))
        energy_j = np.zeros(len(grid))
        for stream, count in units:
            rows = []
            for c, g, m in grid:
                t = stream.timing(tables[policy][c] * ph.cpu[policy].ipc_relative, tables["gpu"][g], tables["mem"][m])
                rows.append((t.duration_s, t.cpu_run_s, t.spin_s, t.gpu_busy_s))
            arr = np.array(rows)
            levels = {k: np.zeros(len(grid), dtype=int) for k in sim.knobs}
            for i, knob in enumerate((policy, "gpu", "mem")):
                levels[knob] = out["levels"][:, i]
            zeros = np.zeros(len(grid))
            inputs = PowerInputs(
                dt_s=arr[:, 0],
                levels=levels,
                cpu_run_s={p: (arr[:, 1] if p == policy else zeros) for p in sim.policies},
                cpu_spin_s={p: (arr[:, 2] if p == policy else zeros) for p in sim.policies},
                gpu_busy_s=arr[:, 3],
                gpu_events=np.tile(stream.total_events, (len(grid), 1)).reshape(len(grid), len(EVENT_FIELDS)),
                dram_bytes=np.full(len(grid), stream.gpu_dram_bytes + stream.cpu_dram_bytes),
            )
            watts = sum(sim.power.compute(inputs, sim.thermal.die_c).values())
            time_s += count * arr[:, 0]
            energy_j += count * arr[:, 0] * watts
        out[f"{name}_s"] = time_s
        out[f"{name}_j"] = energy_j
    out["mhz"] = np.array([[tables[k][i] / MHZ for k, i in zip(tables, row)] for row in grid])
    out["policy"] = policy
    return out


def best_pinned(
    model: str,
    phase: str,
    budget_j: float,
    screened: dict[str, np.ndarray],
    run_all: Callable[[Iterable[Run]], list[Outcome]],
    prompt: int = PROMPT,
    decode: int = DECODE,
) -> tuple[tuple[tuple[str, int], ...], Outcome] | None:
    """The fastest pinned setting whose measured energy per token in `phase` is at most `budget_j`
    (_fastest_within over the screened grid)."""
    knobs = (screened["policy"], "gpu", "mem")

    def measure(settings):
        outcomes = run_all([Run(model, prompt, decode if phase == "decode" else 1, s) for s in settings])
        if phase == "prefill":
            return [(o.ttft_s, o.e_prefill_j, o) for o in outcomes]
        return [(o.tpot_s, o.e_decode_j, o) for o in outcomes]

    found = _fastest_within(
        screened[f"{phase}_s"],
        screened[f"{phase}_j"] / (prompt if phase == "prefill" else 1),
        budget_j,
        lambda i: tuple(zip(knobs, (int(v) for v in screened["mhz"][i]))),
        measure,
    )
    return (found[0], found[1]) if found else None


def _fastest_within(time_s, energy_j, budget_j, setting_of, measure):
    """(setting, outcome, latency) of the fastest setting whose measured energy is within the budget, or
    None. The screen ranks the grid by time; each round runs for real the fastest untried settings whose
    estimated energy, corrected by what the runs so far measured, is within reach of the budget, and the
    rounds go on while the screen still expects settings faster than the best one found."""
    order = np.argsort(time_s)
    correction, margin, tried, best, ratios = 1.0, SCREEN_MARGIN, set(), None, []
    for _ in range(ROUNDS):
        faster_than = best[2] if best else np.inf
        picked = [
            i
            for i in order
            if i not in tried and time_s[i] < faster_than and energy_j[i] * correction <= budget_j * margin
        ][:VERIFY]
        if not picked:
            break
        tried.update(picked)
        settings = [setting_of(i) for i in picked]
        measured = measure(settings)
        ratios += [energy / energy_j[i] for (_, energy, _), i in zip(measured, picked)]
        for setting, (latency, energy, outcome) in zip(settings, measured):
            if energy <= budget_j and (best is None or latency < best[2]):
                best = (setting, outcome, latency)
        # from here the corrected estimate has to fit the budget itself: while none fits, by the most
        # pessimistic correction (cheaper settings); once one does, by the typical one (faster settings)
        correction, margin = (max(ratios) if best is None else float(np.median(ratios))), 1.0
    return best


# --- the table ----------------------------------------------------------------------------------
def measure(
    run_all: Callable[[Iterable[Run]], list[Outcome]] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    long: bool = True,
):
    """Every figure of FIGURES measured on the virtual Pixel 7. `run_all` maps runs to outcomes (a process
    pool's map for speed); stock runs are averaged over `seeds`. Returns (rows, extra) where extra holds the
    settings found and, with `long`, the prefill 128 + decode 256 comparison."""
    run_all = run_all or (lambda runs: [execute(r) for r in runs])
    alone = (("policy6", 1826), ("mem", 3172))
    stage1 = {
        "stock": [Run(TINY, PROMPT, DECODE, (), s) for s in seeds],
        "stock_stablelm": [Run(STABLELM, PROMPT, DECODE, (), s) for s in seeds],
        # long enough a decode that Quickstep's level settles (a 7B decode's GPU sits on the 572 and 701 MHz
        # bands; right after the prefill a seed's first low period decides which it starts on)
        "llama2": [Run(LLAMA2, 64, 96, (), s) for s in seeds],
        "alone": [Run(TINY, PROMPT, DECODE, alone, s) for s in seeds],
        "848": [Run(TINY, PROMPT, DECODE, alone + (("gpu", 848),))],
        "stablelm_alone": [Run(STABLELM, PROMPT, DECODE, alone, s) for s in seeds],
        "stablelm_762": [Run(STABLELM, PROMPT, DECODE, alone + (("gpu", 762),))],
        "mem_stock_848": [Run(TINY, PROMPT, DECODE, (("policy6", 1826), ("gpu", 848)))],
        "mem_2028_848": [Run(TINY, PROMPT, DECODE, (("policy6", 1826), ("gpu", 848), ("mem", 2028)))],
    }
    if long:
        stage1["long_stock"] = [Run(TINY, 128, 256, (), s) for s in seeds]
    flat = [r for runs in stage1.values() for r in runs]
    results = dict(zip(flat, run_all(flat)))
    got = {k: [results[r] for r in runs] for k, runs in stage1.items()}
    stock = got["stock"]
    gpu_stock = _nearest(_mean(stock, lambda o: o.freq_mhz["decode"]["gpu"]), "gpu")
    cpu_stock = _nearest(_mean(stock, lambda o: o.freq_mhz["decode"]["policy6"]), "policy6")
    lowered = [
        Run(TINY, PROMPT, DECODE, (("policy6", 500), ("gpu", gpu_stock))),
        Run(TINY, PROMPT, DECODE, (("policy6", cpu_stock), ("gpu", 151))),
    ]
    screens = {TINY: screen(TINY, PROMPT, DECODE), STABLELM: screen(STABLELM, PROMPT, DECODE)}
    # the memory governor alone: CPU and GPU at the energy-optimal pinned decode setting, memory stock
    tiny = screens[TINY]
    optimal = int(np.argmin(tiny["decode_j"]))
    cpu_opt, gpu_opt = (int(v) for v in tiny["mhz"][optimal][:2])
    lowered.append(Run(TINY, PROMPT, DECODE, (("policy6", cpu_opt), ("gpu", gpu_opt))))
    cpu_low, gpu_low, mem_alone = run_all(lowered)
    best = {}
    for model, key in ((TINY, "stock"), (STABLELM, "stock_stablelm")):
        for phase in ("prefill", "decode"):
            budget = _mean(got[key], (lambda o: o.e_prefill_j) if phase == "prefill" else (lambda o: o.e_decode_j))
            best[(model, phase)] = best_pinned(model, phase, budget, screens[model], run_all)
    long_request = _long_request(got["long_stock"], run_all) if long else {}

    def gap(model: str, key: str, phase: str) -> float:
        found = best[(model, phase)]
        if found is None:
            return float("nan")
        stock_latency = _mean(got[key], (lambda o: o.ttft_s) if phase == "prefill" else (lambda o: o.tpot_s))
        pinned = found[1].ttft_s if phase == "prefill" else found[1].tpot_s
        return 100.0 * (stock_latency / pinned - 1.0)

    levels = _mean_levels([o.levels.get("decode", {}) for o in stock])
    values = {
        "tpot_gpu_alone": _mean(got["alone"], lambda o: o.tpot_s * 1e3),
        "e_gpu_alone": _mean(got["alone"], lambda o: o.e_decode_j * 1e3),
        "tpot_848": got["848"][0].tpot_s * 1e3,
        "e_848": got["848"][0].e_decode_j * 1e3,
        "tpot_stablelm_alone": _mean(got["stablelm_alone"], lambda o: o.tpot_s * 1e3),
        "e_stablelm_alone": _mean(got["stablelm_alone"], lambda o: o.e_decode_j * 1e3),
        "tpot_stablelm_762": got["stablelm_762"][0].tpot_s * 1e3,
        "e_stablelm_762": got["stablelm_762"][0].e_decode_j * 1e3,
        "gpu_decode_stock": _mean(stock, lambda o: o.freq_mhz["decode"]["gpu"]),
        "gpu_decode_llama2": _mean(got["llama2"], lambda o: o.freq_mhz["decode"]["gpu"]),
        "gpu_prefill_stock": _mean(stock, lambda o: o.freq_mhz["prefill"]["gpu"]),
        "cpu_decode_stock": _mean(stock, lambda o: o.freq_mhz["decode"]["policy6"]),
        "cpu_levels": float(sum(1 for s in levels.values() if s >= 0.05)),
        "e_mem_alone": mem_alone.e_decode_j * 1e3,
        "tpot_mem_alone": mem_alone.tpot_s * 1e3,
        "mem_mem_alone": mem_alone.freq_mhz["decode"]["mem"],
        "mem_at_848": got["mem_stock_848"][0].freq_mhz["decode"]["mem"],
        "e_mem_stock_848": got["mem_stock_848"][0].e_decode_j * 1e3,
        "e_mem_2028_848": got["mem_2028_848"][0].e_decode_j * 1e3,
        "util_cpu_prefill": _mean(stock, lambda o: 100 * o.cpu_util["prefill"]),
        "util_cpu_decode": _mean(stock, lambda o: 100 * o.cpu_util["decode"]),
        "util_gpu_decode": _mean(stock, lambda o: 100 * o.gpu_util["decode"]),
        "util_gpu_cpu_low": 100 * cpu_low.gpu_util["decode"],
        "util_cpu_gpu_low": 100 * gpu_low.cpu_util["decode"],
        "ttft_stock": _mean(stock, lambda o: o.ttft_s),
        "tpot_stock": _mean(stock, lambda o: o.tpot_s * 1e3),
        "ttft_gap_tiny": gap(TINY, "stock", "prefill"),
        "tpot_gap_tiny": gap(TINY, "stock", "decode"),
        "ttft_gap_stablelm": gap(STABLELM, "stock_stablelm", "prefill"),
        "tpot_gap_stablelm": gap(STABLELM, "stock_stablelm", "decode"),
    }
    notes = {
        "cpu_levels": ", ".join(f"{f} MHz {100 * s:.0f}%" for f, s in sorted(levels.items()) if s >= 0.05),
        "util_gpu_cpu_low": f"GPU pinned at the stock level nearest its mean, {gpu_stock} MHz",
        "util_cpu_gpu_low": f"CPU pinned at the stock level nearest its mean, {cpu_stock} MHz",
        "e_mem_alone": f"CPU {cpu_opt} / GPU {gpu_opt} MHz (the grid's lowest decode energy), memory stock",
    }
    for (model, phase), found in best.items():
        key = f"{'ttft' if phase == 'prefill' else 'tpot'}_gap_{'tiny' if model == TINY else 'stablelm'}"
        if found is not None:
            notes[key] = "best pinned " + "/".join(f"{k} {v}" for k, v in found[0])
    rows = [Measured(f, values[f.key], notes.get(f.key, "")) for f in FIGURES]
    return rows, {"long": long_request, "best": best, "settings": {"gpu_stock": gpu_stock, "cpu_stock": cpu_stock}}


def _nearest(mhz: float, knob: str) -> int:
    """The table level of `knob` nearest to `mhz`."""
    table = [f / MHZ for f in VirtualPhone(PROFILE).sim.tables[knob]]
    return int(min(table, key=lambda f: abs(f - mhz)))


def _mean_levels(per_run: list[dict[int, float]]) -> dict[int, float]:
    keys = {k for d in per_run for k in d}
    return {k: statistics.fmean(d.get(k, 0.0) for d in per_run) for k in keys}


def _long_request(stock: list[Outcome], run_all) -> dict[str, float]:
    """Prefill 128 + decode 256: stock latency against the fastest single pinned setting at no more energy."""
    screened = screen(TINY, 128, 256)
    knobs = (screened["policy"], "gpu", "mem")
    found = _fastest_within(
        screened["prefill_s"] + 256 * screened["decode_s"],
        screened["prefill_j"] + 256 * screened["decode_j"],
        _mean(stock, lambda o: o.energy_j),
        lambda i: tuple(zip(knobs, (int(v) for v in screened["mhz"][i]))),
        lambda settings: [(o.duration_s, o.energy_j, o) for o in run_all([Run(TINY, 128, 256, s) for s in settings])],
    )
    best_s, best_setting = (found[2], found[0]) if found else (float("nan"), ())
    return {
        "stock_s": _mean(stock, lambda o: o.duration_s),
        "pinned_s": best_s,
        "setting": "/".join(f"{k} {v}" for k, v in best_setting),
    }
