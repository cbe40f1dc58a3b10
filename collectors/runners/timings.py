"""llama.cpp's timing summary (REFERENCES.md section 7), both generations: `llama_print_timings:` (b2202,
what FUSE ran) and `llama_perf_context_print:` / `llama_perf_sampler_print:` (current builds), with or
without the tokens-per-second part, with log timestamp/level prefixes, `inf`/`nan` values and any other
lines around. Never raises on odd text: what it cannot find stays None.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)"
_LINE = re.compile(
    r"(?:llama_print_timings|llama_perf_context_print|llama_perf_sampler_print)\s*:\s*"
    r"(load|sample|sampling|prompt eval|eval|total) time\s*=\s*" + _NUM + r"\s*ms"
    r"(?:\s*/\s*(\d+)\s*(?:runs|tokens))?",
    re.IGNORECASE,
)


@dataclass
class LlamaTimings:
    load_ms: float | None = None
    sample_ms: float | None = None
    sample_runs: int | None = None
    prompt_ms: float | None = None
    prompt_tokens: int | None = None
    eval_ms: float | None = None
    eval_runs: int | None = None
    total_ms: float | None = None

    @property
    def sample_per_token_s(self) -> float:
        if self.sample_ms is None or not self.sample_runs:
            return 0.0
        return self.sample_ms / self.sample_runs / 1e3

    @property
    def ttft_s(self) -> float | None:
        """Prompt evaluation plus sampling the first token."""
        if self.prompt_ms is None or not math.isfinite(self.prompt_ms):
            return None
        return self.prompt_ms / 1e3 + self.sample_per_token_s

    @property
    def tpot_s(self) -> float | None:
        """Time per output token in decode: one evaluation run plus sampling its token."""
        if self.eval_ms is None or not self.eval_runs or not math.isfinite(self.eval_ms):
            return None
        return self.eval_ms / self.eval_runs / 1e3 + self.sample_per_token_s


def parse_timings(text: str) -> LlamaTimings:
    """The last timing summary in `text` (a run prints one; a log may hold several)."""
    out = LlamaTimings()
    if not isinstance(text, str):
        return out
    for match in _LINE.finditer(text):
        label, value, count = match.group(1).lower(), match.group(2), match.group(3)
        try:
            ms = float(value)
        except ValueError:
            continue
        n = int(count) if count is not None and len(count) < 12 else None
        if label == "load":
            out.load_ms = ms
        elif label in ("sample", "sampling"):
            out.sample_ms, out.sample_runs = ms, n
        elif label == "prompt eval":
            out.prompt_ms, out.prompt_tokens = ms, n
        elif label == "eval":
            out.eval_ms, out.eval_runs = ms, n
        elif label == "total":
            out.total_ms = ms
    return out


def parse_ort_perf(text: str) -> dict[str, float]:
    """onnxruntime_perf_test's summary: seconds for session creation, first and average inference,
    inference count; missing fields are absent."""
    fields = {
        "session_s": (r"Session creation time cost:\s*" + _NUM + r"\s*s", 1.0),
        "first_s": (r"First inference time cost:\s*" + _NUM + r"\s*ms", 1e-3),
        "mean_s": (r"Average inference time cost(?: total)?:\s*" + _NUM + r"\s*ms", 1e-3),
        "requests": (r"Total inference requests:\s*" + _NUM, 1.0),
        "run_s": (r"Total inference run time:\s*" + _NUM + r"\s*s", 1.0),
    }
    out = {}
    for key, (pattern, scale) in fields.items():
        match = re.search(pattern, text or "")
        if match:
            try:
                out[key] = float(match.group(1)) * scale
            except ValueError:
                continue
    return out
