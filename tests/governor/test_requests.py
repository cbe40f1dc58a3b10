"""ShareGPT-derived request lengths, FUSE's filter, and the prefill buckets drawn from them."""

from __future__ import annotations

import json

import pytest

from governor.errors import GovernorError
from governor.phases import DECODE, PREFILL, llm_buckets, prefill_bucket_for
from governor.requests import SHAREGPT_FILE, Requests, load_requests


def test_fuse_filter_and_means_are_reported():
    everything = load_requests("sharegpt:1000:all")
    filtered = load_requests("sharegpt")
    meta = json.loads(SHAREGPT_FILE.with_suffix("").with_suffix(".json").read_text())
    assert max(filtered.prompt_tokens) <= 512 and max(filtered.output_tokens) <= 256
    assert max(everything.prompt_tokens) > 512
    mean_in = sum(filtered.prompt_tokens) / len(filtered)
    mean_out = sum(filtered.output_tokens) / len(filtered)
    print(
        f"\nShareGPT after FUSE's filter: {len(filtered)} requests, mean {mean_in:.1f} in / {mean_out:.1f} out "
        f"(paper: 232.4 / 70.0); tokeniser {meta['tokenizer']['model']}"
    )
    assert mean_in == pytest.approx(meta["all_turns"]["fuse_filter_mean_prompt_tokens"], abs=0.05)
    assert load_requests("sharegpt:20") == load_requests("sharegpt:20")  # same sample for every policy
    assert len(load_requests("sharegpt:20:first")) == 20


def test_short_prompts_keep_their_requests_in_order():
    requests = Requests("mine", (5, 80, 64, 65, 1), (7, 8, 9, 10, 11))
    short = requests.with_prompts_up_to(64)
    assert short.pairs() == [(5, 7), (64, 9), (1, 11)]
    assert short.source == "mine(prompt<=64)"
    assert len(requests.with_prompts_up_to(0)) == 0


@pytest.mark.parametrize("spec", ["sharegpt:0", "sharegpt:x", "sharegpt:10:odd", "sharegpt:999999"])
def test_bad_specs(spec):
    with pytest.raises(GovernorError):
        load_requests(spec)


def test_bad_csv(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("prompt_tokens\n5\n")
    with pytest.raises(GovernorError, match="output_tokens is missing"):
        load_requests(str(path))


def test_buckets_split_prompts_by_quintile():
    requests = load_requests("sharegpt")
    buckets = llm_buckets(requests)
    prefill = [b for b in buckets if b.kind == PREFILL]
    assert len(prefill) == 5 and buckets[-1].kind == DECODE
    edges = [b.max_prompt_tokens for b in prefill]
    assert edges == sorted(edges) and edges[-1] == max(requests.prompt_tokens)
    for low, bucket in zip([0, *edges], prefill):
        assert low < bucket.prompt_tokens <= bucket.max_prompt_tokens
    assert prefill_bucket_for(buckets, 1).name == prefill[0].name
    assert prefill_bucket_for(buckets, 10_000).name == prefill[-1].name
    with pytest.raises(GovernorError, match="reach the longest prompt"):
        llm_buckets(requests, edges=[64, 128])
