"""Fixtures of the governor tests: a differently shaped virtual phone (hexa6: policy0/policy2/policy5 with a
one-core prime cluster, 7 GPU and 8 memory levels) and short request sets that keep runs cheap."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
HEXA6 = str(DATA / "hexa6.json")
TINYLLAMA = "tinyllama-1.1b-q4"
NOISE = 2.0  # spreads of one paired ratio to stock within which two choices judged alike tie (goals.Judge)


@pytest.fixture
def short_requests(tmp_path) -> Path:
    """ShareGPT requests with prompts of at most 64 tokens (real lengths, short prefills)."""
    from governor.requests import load_requests

    requests = load_requests("sharegpt")
    rows = requests.with_prompts_up_to(64).pairs()[:400]
    path = tmp_path / "short.csv"
    path.write_text("prompt_tokens,output_tokens\n" + "".join(f"{p},{o}\n" for p, o in rows))
    return path
