"""Phase buckets: what a plan holds one setting for, and what one measurement runs.

Like FUSE, an LLM gets five prefill buckets keyed by the longest prompt each covers, plus one decode
bucket; a CNN gets one `cnn` bucket. By default the prefill edges are the quintiles of the request set's
prompt lengths (each bucket covers a fifth of the requests), and a bucket is measured at the mean prompt
length of the requests it covers; decode is measured over a few tokens at the mean context.
"""

from __future__ import annotations

from dataclasses import dataclass

from governor.errors import GovernorError
from governor.requests import Requests

PREFILL, DECODE, CNN = "prefill", "decode", "cnn"
KINDS = (PREFILL, DECODE, CNN)
DEFAULT_PREFILL_BUCKETS = 5
DEFAULT_DECODE_TOKENS = 32  # tokens one decode measurement times (fewer: the stock governors' noise dominates)
DEFAULT_CNN_RUNS = 10


@dataclass(frozen=True)
class PhaseBucket:
    name: str  # "prefill<=103", "decode", "cnn"
    kind: str  # PREFILL | DECODE | CNN
    prompt_tokens: int = 0  # prefill: measured prompt length; decode: context before the measured tokens
    decode_tokens: int = 0  # decode: tokens measured
    max_prompt_tokens: int | None = None  # prefill: the bucket covers prompts up to this length
    runs: int = 0  # cnn: inferences measured

    @property
    def tokens(self) -> int:
        """What 'per token' divides by: prompt tokens, decode tokens, or inferences."""
        return {PREFILL: self.prompt_tokens, DECODE: self.decode_tokens, CNN: self.runs}[self.kind]


def prefill_name(max_prompt_tokens: int) -> str:
    return f"prefill<={max_prompt_tokens}"


def llm_buckets(
    requests: Requests,
    count: int = DEFAULT_PREFILL_BUCKETS,
    edges: list[int] | None = None,
    decode_tokens: int = DEFAULT_DECODE_TOKENS,
) -> list[PhaseBucket]:
    """Prefill buckets (by prompt-length quantiles, or the given upper edges) and the decode bucket."""
    import numpy as np

    prompts = np.asarray(requests.prompt_tokens, dtype=float)
    outputs = np.asarray(requests.output_tokens, dtype=float)
    if len(prompts) == 0:
        raise GovernorError("no requests to derive phase buckets from")
    if edges is None:
        quantiles = np.quantile(prompts, np.linspace(0, 1, count + 1)[1:])
        edges = sorted({int(np.ceil(q)) for q in quantiles})
    edges = sorted(set(int(e) for e in edges))
    if edges[0] < 1 or edges[-1] < prompts.max():
        raise GovernorError(
            f"prefill bucket edges {edges} must be >= 1 and reach the longest prompt ({prompts.max():.0f})"
        )
    buckets, low = [], 0
    for edge in edges:
        inside = prompts[(prompts > low) & (prompts <= edge)]
        mean = int(round(inside.mean())) if len(inside) else (low + edge + 1) // 2
        buckets.append(PhaseBucket(prefill_name(edge), PREFILL, prompt_tokens=max(mean, 1), max_prompt_tokens=edge))
        low = edge
    context = int(round(prompts.mean() + outputs.mean() / 2))
    buckets.append(PhaseBucket(DECODE, DECODE, prompt_tokens=max(context, 1), decode_tokens=decode_tokens))
    return buckets


def cnn_buckets(runs: int = DEFAULT_CNN_RUNS) -> list[PhaseBucket]:
    return [PhaseBucket(CNN, CNN, runs=runs)]


def prefill_bucket_for(buckets: list[PhaseBucket], prompt_tokens: int) -> PhaseBucket:
    """The bucket a prompt of this length falls in (the last one for anything longer)."""
    prefill = [b for b in buckets if b.kind == PREFILL]
    for bucket in prefill:
        if prompt_tokens <= (bucket.max_prompt_tokens or 0):
            return bucket
    return prefill[-1]


def tokens_per_latency(bucket: PhaseBucket) -> int:
    """TTFT covers the whole prompt; TPOT and a CNN inference one unit each."""
    return bucket.prompt_tokens if bucket.kind == PREFILL else 1


def phase_power(bucket: PhaseBucket, energy_per_token_j, latency_s):
    """Mean power over one occurrence of the phase (W): its energy per token x the tokens one latency covers, over
    that latency; scalars or arrays alike."""
    return energy_per_token_j * tokens_per_latency(bucket) / latency_s
