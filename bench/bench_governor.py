"""Governor benchmark: FUSE, fusegov, the oracle and the baselines side by side on the virtual phone.

Parts (run one with --part; default both = paper + oracle):
- `paper`: pixel7 with TinyLlama, the 1.5B model and StableLM, G1 at the stock energy budget, ShareGPT
  buckets as FUSE uses them (prompt <= 512): FUSE's TTFT/TPOT gains over stock next to the paper's
  (REFERENCES.md 1), and fusegov's, with the runs each search spent.
- `oracle`: every profile x model x goal (G1 at the stock budget, G2 at the stock target), with the oracle's
  exhaustive sweep. The sweep is ~3000 settings x 6 buckets on pixel7, so the buckets come from the ShareGPT
  requests whose prompt is at most --oracle-max-prompt tokens (short prefills, same decode), which keeps a
  sweep to minutes; hexa6 (tests/governor/data) is small enough for full-length buckets (--full-profiles).
- `gaps`: the oracle part's cases without the replays: fusegov's and fuse's choices against the oracle's per bucket
  (paired, on the searched and on held-out seeds), per case and summed up per goal (the mean gap, the buckets and
  cases over 2%, the runs); the quickest check of a change to a search against the truth.
- `searches`: fuse and fusegov alone (no oracle, no replay) on every --profiles x --models x --goals,
  full-length buckets: the plans' expected TTFT/TPOT/energy, runs and search wall time.
- `served`: issue 12's done-when as a phone serving it sees it: every --profiles x --models x --seeds, G1 at the
  stock budget, --requests ShareGPT requests replayed back to back (heat carries over) under stock, fuse and
  fusegov; per case TTFT/TPOT/J per token against stock, end-to-end latency, runs, throttled share, where the
  phone was held once hot (over the second half of the requests: the median margin below the nearest passive
  trip at a request's end, C, the decodes' mean heat level, and the power drawn while serving them, W: once a
  phone is hot every policy draws what it sustains at its trips, so there the energy per request and how a
  policy splits its time between prefill and decode decide), and whether fusegov beats fuse on TTFT and
  TPOT, end to end, and in runs; then the counts per seed and, with several seeds, each case across them:
  fusegov's TTFT, TPOT and end-to-end latency against fuse's (points of the same seed's stock figure; better or
  worse where every seed agrees, split where they disagree). The seed moves every
  search and replay (`--seed` of `fusegov bench governor`); a verdict that flips with it is noise, not a result.
  Cases run in --workers processes.
- `surrogate`: the form of fusegov's models against the truth where it is dense: fitted to every setting the oracle
  ran on every stock seed (the oracle part's sweeps, cached), per bucket alone and pooled over the prefill buckets;
  the rms of the log residuals of latency and energy per token, and the pooled fit's mean per bucket.
Each oracle case replays --requests ShareGPT requests (the same ones for every policy) and prints the table of
`fusegov bench governor`, then fusegov's and fuse's gap to the oracle per bucket, on the searched seeds and on
held-out ones (goals.Judge), with each choice's margin to the goal's limit. Runs are cached on disk
(~/.cache/fusegov/runs), so a second invocation costs the replays only. --json FILE keeps every figure.

    python bench/bench_governor.py --part paper
    python bench/bench_governor.py --part oracle --models tinyllama-1.1b-q4 --profiles pixel7
    python bench/bench_governor.py --part gaps --json gaps.json
    python bench/bench_governor.py --part served --seeds 0,1
    python bench/bench_governor.py --part surrogate --profiles tests/governor/data/hexa6.json --models qwen-1.5b-q4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEXA6 = str(REPO / "tests" / "governor" / "data" / "hexa6.json")
MODELS = ("tinyllama-1.1b-q4", "qwen-1.5b-q4", "stablelm-2.7b-q4")
PAPER = {  # FUSE, G1 at the stock energy: TTFT and TPOT change vs stock (REFERENCES.md 1)
    "tinyllama-1.1b-q4": (-0.144, -0.254),
    "qwen-1.5b-q4": (-0.169, -0.368),
    "stablelm-2.7b-q4": (-0.070, -0.352),
}
ALL = ["stock", "fuse", "fusegov", "oracle", "all_max", "independent"]


def sample(requests, count: int, seed: int = 0):
    import numpy as np

    from governor.requests import Requests

    rows = np.sort(np.random.default_rng(seed).choice(len(requests), size=min(count, len(requests)), replace=False))
    return Requests(
        f"{requests.source}:{count}",
        tuple(requests.prompt_tokens[i] for i in rows),
        tuple(requests.output_tokens[i] for i in rows),
    )


def run_case(profile, model, goal, policies, bucket_requests, replay_requests, args):
    from governor.commands import format_bench
    from governor.evaluate import evaluate
    from governor.goals import GoalSpec
    from governor.measure import VirtualMeasurer
    from governor.phases import llm_buckets

    measurer = VirtualMeasurer(profile, model)
    buckets = llm_buckets(bucket_requests, count=args.prefill_buckets)
    start = time.perf_counter()
    results = evaluate(
        measurer,
        buckets,
        GoalSpec(goal),
        policies,
        replay_requests,
        model,
        workers=args.workers,
        cache_dir=None if args.no_cache else args.cache,
    )
    wall = time.perf_counter() - start
    label = argparse.Namespace(model=model, virtual=Path(profile).stem, goal=goal, requests=replay_requests.source)
    print(format_bench(results, label, len(replay_requests)))
    return results, wall


def judged(runs: dict, reference: str) -> dict:
    """Per search but `reference` and bucket, its choice against `reference`'s (the paired score ratio less one;
    positive = worse) and both choices' margins to the goal's limit, each judged alike (evaluate.judge_plans:
    the goal's one rule on the searched and on held-out seeds). `runs` maps names to planner.SearchRun."""
    from governor.evaluate import judge_plans

    verdicts = judge_plans(runs)
    theirs = verdicts[reference]
    return {
        name: {
            bucket: {
                seeds: {
                    "gap": mine[seeds].score / theirs[bucket][seeds].score - 1,
                    "margin": mine[seeds].margin,
                    f"{reference}_margin": theirs[bucket][seeds].margin,
                }
                for seeds in mine
            }
            for bucket, mine in per.items()
        }
        for name, per in verdicts.items()
        if name != reference
    }


def part_paper(args, record):
    from governor.requests import load_requests

    replay = load_requests(f"sharegpt:{args.requests}")
    print(f"\n=== paper: pixel7, G1 at the stock energy, {len(replay)} ShareGPT requests (prompt <= 512)")
    rows = []
    for model in args.models:
        results, wall = run_case(
            "pixel7",
            model,
            "latency",
            ["stock", "fuse", "fusegov", "all_max", "independent"],
            load_requests("sharegpt"),
            replay,
            args,
        )
        base = results["stock"].summary
        for name in ("fuse", "fusegov"):
            s = results[name].summary
            rows.append(
                (
                    model,
                    name,
                    s.ttft_mean_s / base.ttft_mean_s - 1,
                    s.tpot_mean_s / base.tpot_mean_s - 1,
                    s.energy_per_token_j / base.energy_per_token_j - 1,
                    results[name].plan.search["measurements"],
                    results[name].plan.search["wall_s"],
                )
            )
        record.append(
            {
                "part": "paper",
                "profile": "pixel7",
                "model": model,
                "goal": "latency",
                "wall_s": wall,
                "policies": {n: r.to_dict() for n, r in results.items()},
            }
        )
        print()
    print(
        f"{'model':<20} {'search':<8} {'TTFT':>7} {'paper':>7} {'TPOT':>7} {'paper':>7} {'J/tok':>7} {'runs':>5} {'wall s':>7}"
    )
    for model, name, ttft, tpot, energy, runs, wall in rows:
        paper = PAPER[model]
        print(
            f"{model:<20} {name:<8} {ttft:>+7.1%} {paper[0]:>+7.1%} {tpot:>+7.1%} {paper[1]:>+7.1%} {energy:>+7.1%} {runs:>5} {wall:>7.1f}"
        )


def oracle_requests(args, profile: str):
    """The requests an oracle case's buckets come from: full-length ShareGPT on --full-profiles, else those whose
    prompt is at most --oracle-max-prompt tokens (short prefills keep the exhaustive sweep to minutes)."""
    from governor.requests import load_requests

    requests = load_requests("sharegpt")
    full = Path(profile).resolve() in {Path(p).resolve() for p in args.full_profiles}
    return requests if full else requests.with_prompts_up_to(args.oracle_max_prompt)


def part_oracle(args, record):
    from governor.goals import Judge

    for profile in args.profiles:
        buckets_from = oracle_requests(args, profile)
        replay = sample(buckets_from, args.oracle_requests)
        for model in args.models:
            for goal in args.goals:
                print(f"\n=== oracle: {Path(profile).stem}, {model}, goal {goal}, buckets from {buckets_from.source}")
                results, wall = run_case(profile, model, goal, ALL, buckets_from, replay, args)
                gap = judged({n: results[n].search for n in ("oracle", "fusegov", "fuse") if n in results}, "oracle")
                for name, per in gap.items():
                    for seeds in Judge.SEEDS:
                        print(
                            f"  {name} vs oracle per bucket ({seeds} seeds, paired; goal margin / oracle's): "
                            + ", ".join(
                                f"{b} {v[seeds]['gap']:+.2%} ({v[seeds]['margin']:+.1%} / {v[seeds]['oracle_margin']:+.1%})"
                                for b, v in per.items()
                            )
                        )
                counts = {n: results[n].plan.search["measurements"] for n in ("fuse", "fusegov", "oracle")}
                print(f"  runs: {counts}; case wall {wall:.0f} s")
                record.append(
                    {
                        "part": "oracle",
                        "profile": Path(profile).stem,
                        "model": model,
                        "goal": goal,
                        "buckets_from": buckets_from.source,
                        "wall_s": wall,
                        "gap_to_oracle": gap,
                        "policies": {n: r.to_dict() for n, r in results.items()},
                    }
                )


ORACLE_GAP = 0.02  # issue 12's done-when: fusegov within 2% of the oracle's objective


def part_gaps(args, record):
    """The oracle part's cases without its replays, the quickest check of a search against the truth: per profile x
    model x goal, oracle, fuse and fusegov searched on the same buckets (`oracle_requests`; one cache of runs per
    phone x model), each choice judged against the oracle's per bucket (`judged`: paired, on the searched and on
    held-out seeds); per case the runs, the worst and mean gap and each bucket's; then over every case per goal the
    mean gap per bucket, the buckets and cases over ORACLE_GAP, the sum of each case's worst gap and the runs."""
    import numpy as np

    from governor.cache import CachedMeasurer
    from governor.goals import GoalSpec
    from governor.lab import RUNG
    from governor.measure import VirtualMeasurer
    from governor.phases import llm_buckets
    from governor.planner import run_search

    print(
        f"\n=== gaps to the oracle per bucket (+ = worse than the oracle's choice), {args.prefill_buckets} prefill buckets"
    )
    cases = []
    for profile in args.profiles:
        buckets = llm_buckets(oracle_requests(args, profile), count=args.prefill_buckets)
        for model in args.models:
            shared = CachedMeasurer(VirtualMeasurer(profile, model), None if args.no_cache else args.cache)
            for goal in args.goals:
                runs = {
                    name: run_search(
                        shared, buckets, GoalSpec(goal), name, model, workers=args.workers if name == "oracle" else 1
                    )
                    for name in ("oracle", "fuse", "fusegov")
                }
                gap = judged(runs, "oracle")
                case = {
                    "part": "gaps",
                    "profile": Path(profile).stem,
                    "model": model,
                    "goal": goal,
                    "measurements": {name: run.lab.measurements for name, run in runs.items()},
                    "rung_measurements": runs["fusegov"].lab.spent(RUNG),
                    "gap_to_oracle": gap,
                }
                ours = {bucket: v["searched"]["gap"] for bucket, v in gap["fusegov"].items()}
                held = [v["held_out"]["gap"] for v in gap["fusegov"].values()]
                theirs = [v["searched"]["gap"] for v in gap["fuse"].values()]
                print(
                    f"{case['profile']:<8} {model:<18} {goal:<7} runs fusegov {case['measurements']['fusegov']:>3}"
                    f"({case['rung_measurements']}) fuse {case['measurements']['fuse']:>3} | fusegov worst "
                    f"{max(ours.values()):+.2%} mean {np.mean(list(ours.values())):+.2%} held-out {np.mean(held):+.2%} "
                    f"(worst {max(held):+.2%})"
                    f" | fuse mean {np.mean(theirs):+.2%} | " + " ".join(f"{b} {v:+.2%}" for b, v in ours.items()),
                    flush=True,
                )
                record.append(case)
                cases.append(case)
    for goal in [*args.goals, "all"]:
        mine = [c for c in cases if goal in (c["goal"], "all")]
        gaps = [v["searched"]["gap"] for c in mine for v in c["gap_to_oracle"]["fusegov"].values()]
        held = [v["held_out"]["gap"] for c in mine for v in c["gap_to_oracle"]["fusegov"].values()]
        worst = [max(v["searched"]["gap"] for v in c["gap_to_oracle"]["fusegov"].values()) for c in mine]
        held_worst = [max(v["held_out"]["gap"] for v in c["gap_to_oracle"]["fusegov"].values()) for c in mine]
        print(
            f"{goal}: {len(mine)} cases, mean gap {np.mean(gaps):.3%} (held-out {np.mean(held):.3%}), buckets over "
            f"{ORACLE_GAP:.0%} {sum(g > ORACLE_GAP for g in gaps)} of {len(gaps)}, "
            f"cases {sum(w > ORACLE_GAP for w in worst)} "
            f"(held-out {sum(g > ORACLE_GAP for g in held)}, {sum(w > ORACLE_GAP for w in held_worst)}), "
            f"sum of worst {sum(worst):.3f}; runs fusegov {sum(c['measurements']['fusegov'] for c in mine)} "
            f"({sum(c['rung_measurements'] for c in mine)} for rungs), fuse {sum(c['measurements']['fuse'] for c in mine)}"
        )


def part_searches(args, record):
    """fuse and fusegov only (no oracle, no replay): each plan's expected TTFT (mean over the prefill buckets),
    TPOT and energy per token as the searches measured them, with their runs (fusegov's for cooler rungs in
    brackets) and wall time; then both choices judged alike (`judged`): a search's expected figures are its own runs'
    means, so a choice run once on a fast seed reads faster than one run on every seed. Cheap enough for every
    phone x model x goal on full-length ShareGPT buckets."""
    from governor.cache import CachedMeasurer
    from governor.goals import GoalSpec
    from governor.lab import RUNG
    from governor.measure import VirtualMeasurer
    from governor.phases import DECODE, PREFILL, llm_buckets
    from governor.planner import run_search
    from governor.requests import load_requests

    buckets = llm_buckets(load_requests("sharegpt"), count=args.prefill_buckets)
    print(f"\n=== searches: {len(buckets)} buckets from ShareGPT (prompt <= 512)")
    print(
        f"{'phone':<8} {'model':<18} {'goal':<7} {'search':<8} {'TTFT s':>7} {'TPOT s':>7} {'pf J/t':>7} "
        f"{'dec J/t':>7} {'runs':>8} {'wall s':>7} met"
    )
    for profile in args.profiles:
        for model in args.models:
            shared = CachedMeasurer(VirtualMeasurer(profile, model), None if args.no_cache else args.cache)
            for goal in args.goals:
                runs = {}
                for name in ("stock", "fuse", "fusegov"):
                    run = runs[name] = run_search(shared, buckets, GoalSpec(goal), name, model)
                    phases = run.plan.phases
                    prefill = [p for p in phases if p.phase == PREFILL]
                    decode = next(p for p in phases if p.phase == DECODE)
                    row = {
                        "ttft_s": sum(p.expected.latency_s for p in prefill) / len(prefill),
                        "tpot_s": decode.expected.latency_s,
                        "prefill_energy_per_token_j": sum(p.expected.energy_per_token_j for p in prefill)
                        / len(prefill),
                        "decode_energy_per_token_j": decode.expected.energy_per_token_j,
                        "measurements": run.lab.measurements,
                        "rung_measurements": run.lab.spent(RUNG),
                        "runs_by_purpose": run.lab.spending(),
                        "wall_s": run.wall_s,
                        "met": run.plan.met,
                    }
                    rungs = f"({row['rung_measurements']})" if row["rung_measurements"] else ""
                    print(
                        f"{Path(profile).stem:<8} {model:<18} {goal:<7} {name:<8} {row['ttft_s']:>7.3f} "
                        f"{row['tpot_s']:>7.4f} {row['prefill_energy_per_token_j']:>7.4f} "
                        f"{row['decode_energy_per_token_j']:>7.4f} {row['measurements']:>4}{rungs:<4} "
                        f"{row['wall_s']:>7.1f} {row['met']}",
                        flush=True,
                    )
                    record.append(
                        {
                            "part": "searches",
                            "profile": Path(profile).stem,
                            "model": model,
                            "goal": goal,
                            "search": name,
                            **row,
                        }
                    )
                gap = judged({n: runs[n] for n in ("fuse", "fusegov")}, "fuse")["fusegov"]
                print_judged(gap, runs["fuse"].context.goal.objective_field)
                record[-1]["judged_against_fuse"] = gap
    print_spending([r for r in record if r["part"] == "searches"])


def print_spending(rows: list[dict]) -> None:
    """Per goal, where each search's runs went over the cases (`Lab.spending`: stock's, fusegov's design points and
    side-pin checks, the search's own with its repeats, the cooler rungs'), and the cases where fusegov, its runs for
    cooler rungs aside (FUSE makes none), took no fewer runs than fuse."""
    from governor.lab import PURPOSES

    for goal in dict.fromkeys(r["goal"] for r in rows):
        mine = [r for r in rows if r["goal"] == goal]
        for name in ("fuse", "fusegov"):
            spent = [r["runs_by_purpose"] for r in mine if r["search"] == name]
            total = {key: sum(s[key] for s in spent) for key in (*PURPOSES, "repeats")}
            print(f"{goal}: {name} runs over {len(spent)} cases: " + ", ".join(f"{k} {v}" for k, v in total.items()))
        fuse = {(r["profile"], r["model"]): r["measurements"] for r in mine if r["search"] == "fuse"}
        ours = [r for r in mine if r["search"] == "fusegov"]
        dearer = [
            f"{r['profile']} {r['model']} {r['measurements'] - r['rung_measurements']} (fuse {fuse[r['profile'], r['model']]})"
            for r in ours
            if r["measurements"] - r["rung_measurements"] >= fuse[r["profile"], r["model"]]
        ]
        print(
            f"{goal}: fusegov, rungs aside, takes no fewer runs than fuse in {len(dearer)} of {len(ours)} cases"
            + (f": {'; '.join(dearer)}" if dearer else "")
        )


def print_judged(gap: dict, objective: str) -> None:
    """fusegov's choices against fuse's, judged alike (`judged`): the mean paired gap in the goal's `objective` over
    the prefill buckets, decode's, the worst bucket's, and the lowest margin to the goal's limit of each, per seed
    set."""
    from governor.goals import Judge
    from governor.phases import DECODE

    for seeds in Judge.SEEDS:
        rows = {bucket: v[seeds] for bucket, v in gap.items()}
        prefill = [v["gap"] for b, v in rows.items() if b != DECODE]
        decode = f"decode {rows[DECODE]['gap']:+.2%}, " if DECODE in rows else ""
        print(
            f"{'':<27} {objective} judged on {seeds} seeds, fusegov against fuse: prefill {sum(prefill) / len(prefill):+.2%}, "
            f"{decode}worst bucket {max(v['gap'] for v in rows.values()):+.2%}; lowest margin "
            f"{min(v['margin'] for v in rows.values()):+.1%} (fuse {min(v['fuse_margin'] for v in rows.values()):+.1%})"
        )


SERVED = ("stock", "fuse", "fusegov")


def served_case(profile: str, model: str, seed: int, requests: int, cache: str | None) -> dict:
    """One served case (part `served`): each policy's replay summary and search figures, as plain data. The
    knobs' per-write warnings about thermal caps are silenced: the table's throttled share says it per policy."""
    import logging

    from governor.evaluate import evaluate
    from governor.goals import GoalSpec
    from governor.measure import VirtualMeasurer
    from governor.phases import llm_buckets
    from governor.requests import load_requests

    logging.getLogger("fusegov.knobs").setLevel(logging.ERROR)
    buckets = llm_buckets(load_requests("sharegpt"))
    results = evaluate(
        VirtualMeasurer(profile, model, seed=seed),
        buckets,
        GoalSpec("latency"),
        list(SERVED),
        load_requests(f"sharegpt:{requests}"),
        model,
        cache_dir=cache,
    )
    return {name: {**result.to_dict(), **served_heat(result.outcomes)} for name, result in results.items()}


def served_heat(outcomes) -> dict:
    """Where a replay held the phone once it had heated (the second half of its requests): the median margin
    below the nearest passive trip at a request's end (C), the mean heat level of the decodes, and the mean
    power while serving them (their energy over their latency, W)."""
    import numpy as np

    late = outcomes[len(outcomes) // 2 :]
    return {
        "late_margin_c": float(np.median([o.trip_margin_c for o in late])),
        "late_decode_level": float(np.mean([o.decode_level for o in late])),
        "late_power_w": sum(o.energy_j for o in late) / sum(o.latency_s for o in late),
    }


def verdicts(policies: dict) -> dict[str, bool]:
    """fusegov against fuse on one served case: TTFT and TPOT both lower, end to end lower, fewer runs."""
    ours, fuse = policies["fusegov"], policies["fuse"]
    return {
        "ttft_and_tpot": ours["ttft_mean_s"] < fuse["ttft_mean_s"] and ours["tpot_mean_s"] < fuse["tpot_mean_s"],
        "end_to_end": ours["latency_mean_s"] < fuse["latency_mean_s"],
        "fewer_runs": ours["measurements"] < fuse["measurements"],
    }


def group_data(truth: dict, buckets, names: list[str], knobs):
    """`truth` (bucket -> setting -> (latency, energy per token)) of the named buckets as the surrogate's GroupData;
    None when they have no settings."""
    import numpy as np

    from governor.phases import tokens_per_latency
    from governor.surrogate import GroupData

    rows = [
        ([s.get(k.name) for k in knobs], b.prompt_tokens or 1, tokens_per_latency(b), *v)
        for b in buckets
        if b.name in names
        for s, v in truth.get(b.name, {}).items()
    ]
    return GroupData(*(np.array(c, dtype=float) for c in zip(*rows))) if rows else None


def log_residuals(model, data):
    """Log of predicted / measured latency and expected energy per token at `data`'s settings (one bucket)."""
    import numpy as np

    from governor.surrogate import Surrogate

    latency, energies = model.predict(data.freq_hz, data.length[0], data.tokens[0])
    return np.log(latency / data.latency_s), np.log(Surrogate.expected(energies) / data.energy_j)


def part_surrogate(args, record):
    """How well the form of fusegov's models fits the truth where runs are dense: per profile x model, every pinned
    setting the oracle ran on every stock seed (its contenders, over both goals' sweeps, so the settings near each
    bucket's best), its mean paired latency and energy per token (the goals' rule), and the surrogate fitted to them
    per bucket alone and pooled over the prefill buckets as fusegov pools them; the rms of the log residuals. One
    bucket's fit is the form's own error plus what the seeds' setting-specific effects leave in a three-seed mean
    (a roughness no smooth model follows, and the oracle's best of thousands exploits); the pooled fit adds what its
    prompt-length basis misses: its residual about each bucket's mean (which fusegov's bucket correction takes
    out) and that mean. A search's predictions from a few dozen runs cannot do better than these. Reads the oracle
    part's sweeps from the cache (or sweeps them, in --workers processes)."""
    import numpy as np

    from governor.cache import CachedMeasurer
    from governor.goals import GoalSpec
    from governor.measure import VirtualMeasurer
    from governor.phases import PREFILL, llm_buckets
    from governor.planner import run_search
    from governor.surrogate import Surrogate, roofline_pair

    print("\n=== surrogate: the models' form against the oracle's every-seed settings (rms of log residuals, %)")
    print(
        f"{'phone':<8} {'model':<18} {'bucket':<13} {'n':>5} {'alone L':>8} {'E':>6} {'pooled L':>9} {'E':>6} {'mean L':>7} {'E':>6}"
    )
    for profile in args.profiles:
        buckets = llm_buckets(oracle_requests(args, profile), count=args.prefill_buckets)
        for model in args.models:
            shared = CachedMeasurer(VirtualMeasurer(profile, model), None if args.no_cache else args.cache)
            truth: dict[str, dict] = {}  # bucket -> setting -> (latency, energy): each goal's sweep confirms its own
            for goal in ("latency", "energy"):
                run = run_search(shared, buckets, GoalSpec(goal), "oracle", model, workers=args.workers)
                ctx, knobs = run.context, run.context.space.primary
                for bucket in buckets:
                    stock = ctx.stock[bucket.name]
                    seeds = len(stock.runs_of("latency_s"))
                    for obs in run.lab.observations(bucket.name):
                        if obs.repeats >= seeds and all(obs.setting.get(k.name) for k in knobs):
                            truth.setdefault(bucket.name, {})[obs.setting] = (
                                ctx.goal.paired(obs, "latency_s").mean() * stock.latency_s,
                                ctx.goal.paired(obs, "energy_per_token_j").mean() * stock.energy_per_token_j,
                            )
            fmax = np.array([k.max_hz for k in knobs], dtype=float)
            roofline = roofline_pair([k.role for k in knobs])

            prefill = [b.name for b in buckets if b.kind == PREFILL]
            pooled_data = group_data(truth, buckets, prefill, knobs)
            pooled = Surrogate(fmax, True, roofline).fit(pooled_data) if pooled_data else None
            for bucket in buckets:
                d = group_data(truth, buckets, [bucket.name], knobs)
                if d is None or len(d.latency_s) < 2 * (len(knobs) + 2):
                    continue  # too few settings to tell the form's error from its freedom
                alone = log_residuals(Surrogate(fmax, False, roofline).fit(d), d)
                row = {
                    "profile": Path(profile).stem,
                    "model": model,
                    "bucket": bucket.name,
                    "settings": len(d.latency_s),
                }
                row |= {f"alone_{q}_rms": float(np.sqrt((r**2).mean())) for q, r in zip(("latency", "energy"), alone)}
                cells = f"{row['alone_latency_rms']:>8.2%} {row['alone_energy_rms']:>6.2%}"
                if pooled is not None and bucket.name in prefill:
                    together = log_residuals(pooled, d)
                    for q, r in zip(("latency", "energy"), together):
                        row[f"pooled_{q}_rms"] = float(r.std())
                        row[f"pooled_{q}_mean"] = float(r.mean())
                    cells += (
                        f" {row['pooled_latency_rms']:>9.2%} {row['pooled_energy_rms']:>6.2%}"
                        f" {row['pooled_latency_mean']:>+7.1%} {row['pooled_energy_mean']:>+6.1%}"
                    )
                print(
                    f"{Path(profile).stem:<8} {model:<18} {bucket.name:<13} {len(d.latency_s):>5} {cells}", flush=True
                )
                record.append({"part": "surrogate", **row})


def part_served(args, record):
    from concurrent.futures import ProcessPoolExecutor

    cases = [(p, m, s) for s in args.seeds for p in args.profiles for m in args.models]
    print(
        f"\n=== served: {len(cases)} cases, G1 at the stock energy, {args.requests} ShareGPT requests back to back, "
        f"{args.workers} processes"
    )
    cache = None if args.no_cache else args.cache
    print(
        f"{'seed':>4} {'phone':<8} {'model':<18} {'search':<8} {'TTFT':>7} {'TPOT':>7} {'J/tok':>7} {'e2e s':>7} "
        f"{'runs':>9} {'thr':>4} {'margin':>6} {'lvl':>4} {'W hot':>5}  fusegov beats fuse in"
    )
    counts: dict[int, dict[str, int]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(served_case, p, m, s, args.requests, cache) for p, m, s in cases]
        for (profile, model, seed), future in zip(cases, futures):
            policies = future.result()
            base, verdict = policies["stock"], verdicts(policies)
            tally = counts.setdefault(seed, dict.fromkeys(verdict, 0))
            for key, ok in verdict.items():
                tally[key] += ok
            for name in ("fuse", "fusegov"):
                row = policies[name]
                runs = f"{row['measurements']}({row['rung_measurements']})"
                said = ", ".join(k for k, ok in verdict.items() if ok) if name == "fusegov" else ""
                print(
                    f"{seed:>4} {Path(profile).stem:<8} {model:<18} {name:<8} "
                    f"{row['ttft_mean_s'] / base['ttft_mean_s'] - 1:>+7.1%} "
                    f"{row['tpot_mean_s'] / base['tpot_mean_s'] - 1:>+7.1%} "
                    f"{row['energy_per_token_j'] / base['energy_per_token_j'] - 1:>+7.1%} {row['latency_mean_s']:>7.2f} "
                    f"{runs:>9} {row['throttled_share']:>4.0%} {row['late_margin_c']:>6.1f} "
                    f"{row['late_decode_level']:>4.1f} {row['late_power_w']:>5.2f}  {said}",
                    flush=True,
                )
            record.append(
                {
                    "part": "served",
                    "profile": Path(profile).stem,
                    "model": model,
                    "seed": seed,
                    "goal": "latency",
                    "verdicts": verdict,
                    "policies": policies,
                }
            )
    for seed, tally in counts.items():
        print(
            f"seed {seed}: fusegov beats fuse in "
            + ", ".join(f"{k} {v}/{len(cases) // len(counts)}" for k, v in tally.items())
        )
    if len(counts) > 1:
        print_across_seeds([r for r in record if r["part"] == "served"])


SIDES = {"ttft_mean_s": "TTFT", "tpot_mean_s": "TPOT", "latency_mean_s": "end to end"}


def print_across_seeds(rows: list[dict]) -> None:
    """Per phone x model over the seeds: fusegov's TTFT, TPOT and end-to-end latency against fuse's, each as the
    difference of their ratios to the same seed's stock (points), mean and range; `better` or `worse` when every
    seed says so, `split` when the seeds disagree (a difference within the replays' noise, not a result)."""
    by_case: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_case.setdefault((row["profile"], row["model"]), []).append(row["policies"])
    print(f"\nacross seeds: fusegov - fuse, points of stock's same-seed figure (mean [min, max]), {len(rows)} replays")
    print(f"{'phone':<8} {'model':<18} " + " ".join(f"{label:>28}" for label in SIDES.values()))
    tally = {name: {"better": 0, "split": 0, "worse": 0} for name in SIDES}
    for (profile, model), seeds in by_case.items():
        cells = []
        for name in SIDES:
            diffs = [100 * (p["fusegov"][name] - p["fuse"][name]) / p["stock"][name] for p in seeds]
            verdict = "better" if max(diffs) < 0 else "worse" if min(diffs) > 0 else "split"
            tally[name][verdict] += 1
            cells.append(f"{sum(diffs) / len(diffs):+5.1f} [{min(diffs):+5.1f},{max(diffs):+5.1f}] {verdict:<6}")
        print(f"{profile:<8} {model:<18} " + " ".join(f"{c:>28}" for c in cells))
    for name, counts in tally.items():
        print(f"{SIDES[name]}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" of {len(by_case)} cases")


def main() -> None:
    from governor.cache import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--part", choices=("paper", "oracle", "gaps", "searches", "served", "surrogate", "both"), default="both"
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--profiles", default=f"pixel7,sm8550,{HEXA6}")
    parser.add_argument("--full-profiles", default=HEXA6, help="profiles whose oracle uses full-length buckets")
    parser.add_argument("--goals", default="latency,energy")
    parser.add_argument("--seeds", default="0", help="seeds of the served part's searches and replays")
    parser.add_argument("--requests", type=int, default=40, help="requests replayed in the paper and served parts")
    parser.add_argument("--oracle-requests", type=int, default=20, help="requests replayed per oracle case")
    parser.add_argument("--oracle-max-prompt", type=int, default=64)
    parser.add_argument(
        "--prefill-buckets",
        type=int,
        default=5,
        help="prefill buckets per case (FUSE: 5); fewer keep the oracle's sweep short (pixel7: 3024 settings a bucket)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", default=str(default_cache_dir()))
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="write every figure here")
    args = parser.parse_args()
    for key in ("models", "profiles", "full_profiles", "goals"):
        setattr(args, key, [v for v in getattr(args, key).split(",") if v])
    args.seeds = [int(v) for v in args.seeds.split(",") if v]
    record: list = []
    try:
        if args.part in ("paper", "both"):
            part_paper(args, record)
        if args.part in ("oracle", "both"):
            part_oracle(args, record)
        if args.part == "gaps":
            part_gaps(args, record)
        if args.part == "searches":
            part_searches(args, record)
        if args.part == "served":
            part_served(args, record)
        if args.part == "surrogate":
            part_surrogate(args, record)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
