"""`fusegov plan` and `fusegov bench governor` end to end on a short request set."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from governor.plan import load_plan
from tests.governor.conftest import HEXA6, TINYLLAMA
from tests.governor.test_bad_input import fusegov


@pytest.mark.slow
def test_plan_writes_a_valid_plan(tmp_path, short_requests):
    out_path = tmp_path / "plan.json"
    log = tmp_path / "runs.csv"
    plan_args = ["plan", "--virtual", HEXA6, "--model", TINYLLAMA, "--requests", str(short_requests)]
    plan_args += ["--search", "fusegov", "--cache", str(tmp_path / "cache")]
    out = fusegov(*plan_args, "--log", str(log), "-o", str(out_path))
    assert out.returncode == 0, out.stderr
    plan = load_plan(out_path)
    assert [p.phase for p in plan.phases] == ["prefill"] * 5 + ["decode"]
    assert plan.device["profile"] == "hexa6" and plan.search["measurements"] == len(log.read_text().splitlines()) - 1
    logged = pd.read_csv(log)["purpose"].value_counts().to_dict()  # each run, with what it was for
    assert logged == {k: v for k, v in plan.search["runs_by_purpose"].items() if v and k != "repeats"}
    assert f"stock {logged['stock']}, design {logged['design']}" in out.stdout
    assert "search fusegov" in out.stdout and "wrote" in out.stdout
    again = fusegov(*plan_args, "-o", str(tmp_path / "again.json"))
    assert again.returncode == 0
    assert load_plan(tmp_path / "again.json").phases == plan.phases  # the run cache gives the same runs back


@pytest.mark.slow
def test_bench_governor_json(tmp_path, short_requests):
    few = tmp_path / "few.csv"
    few.write_text("\n".join(short_requests.read_text().splitlines()[:4]) + "\n")
    png, per_request = tmp_path / "frontier.png", tmp_path / "requests.parquet"
    out = fusegov(
        "bench",
        "governor",
        "--virtual",
        HEXA6,
        "--model",
        TINYLLAMA,
        "--requests",
        str(few),
        "--policies",
        "stock,fusegov,all_max",
        "--no-cache",
        "--json",
        "--plot",
        str(png),
        "--per-request",
        str(per_request),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    keys = {"ttft_mean_s", "ttft_p99_s", "tpot_mean_s", "energy_per_token_j", "energy_total_j", "measurements"}
    assert set(data["policies"]) == {"stock", "fusegov", "all_max"}
    for figures in data["policies"].values():
        assert keys <= set(figures) and figures["ttft_mean_s"] > 0
    rows = pd.read_parquet(per_request)  # every request of every replay, the summaries' own figures
    count = data["policies"]["stock"]["requests"]
    assert len(rows) == 3 * count
    assert all(list(group) == list(range(count)) for _, group in rows.groupby("policy")["request"])
    means = rows.groupby("policy")[["ttft_s", "tpot_s"]].mean()
    for name, figures in data["policies"].items():
        assert means.loc[name, "ttft_s"] == pytest.approx(figures["ttft_mean_s"], rel=1e-5)
        assert means.loc[name, "tpot_s"] == pytest.approx(figures["tpot_mean_s"], rel=1e-5)
    assert (rows[["prefill_level", "decode_level"]] >= 0).all().all() and rows["trip_margin_c"].notna().all()
    assert (rows.loc[rows.policy == "stock", ["prefill_level", "decode_level"]] == 0).all().all()
    assert data["policies"]["all_max"]["tpot_mean_s"] < data["policies"]["stock"]["tpot_mean_s"]
    assert png.stat().st_size > 10_000
