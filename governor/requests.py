"""Request lengths to replay: ShareGPT-derived samples shipped in datasets/ (see derive_sharegpt_lengths.py).

`load_requests("sharegpt:200")` draws 200 requests (a fixed seed, so every policy sees the same ones) from
the requests that pass FUSE's filter (prompt <= 512, output <= 256 tokens); a request is a chat turn with its
conversation's history as the prompt. `sharegpt:200:first` keeps only each conversation's first turn,
`sharegpt:200:all` skips the filter, plain `sharegpt` takes every filtered request. A CSV path with
prompt_tokens and output_tokens columns is read as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from governor.errors import GovernorError

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
SHAREGPT_FILE = DATASETS_DIR / "sharegpt_lengths.csv.gz"
FUSE_MAX_PROMPT = 512
FUSE_MAX_OUTPUT = 256
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Requests:
    """Prompt and output lengths, one pair per request."""

    source: str
    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.prompt_tokens)

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.prompt_tokens, self.output_tokens))

    def with_prompts_up_to(self, max_prompt: int) -> Requests:
        """The requests whose prompt has at most `max_prompt` tokens, in order: short prefills keep an oracle's
        sweep of every bucket cheap."""
        pairs = [(p, o) for p, o in self.pairs() if p <= max_prompt]
        return Requests(f"{self.source}(prompt<={max_prompt})", tuple(p for p, _ in pairs), tuple(o for _, o in pairs))


def _read_lengths(path: Path, extra: tuple[str, ...] = ()):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise GovernorError(f"requests {path}: cannot read it as CSV: {exc}") from None
    for column in ("prompt_tokens", "output_tokens", *extra):
        if column not in frame:
            raise GovernorError(f"requests {path}: column {column} is missing")
    frame = frame[["prompt_tokens", "output_tokens", *extra]]
    if frame.isna().any().any() or (frame["prompt_tokens"] < 1).any() or (frame["output_tokens"] < 0).any():
        raise GovernorError(f"requests {path}: prompt_tokens must be >= 1 and output_tokens >= 0 in every row")
    return frame.astype(int)


def load_requests(spec: str, seed: int = DEFAULT_SEED) -> Requests:
    """`sharegpt[:N[:all]]` or a CSV path."""
    import numpy as np

    kind, _, rest = spec.partition(":")
    if kind != "sharegpt":
        frame = _read_lengths(Path(spec))
        return Requests(spec, tuple(frame["prompt_tokens"]), tuple(frame["output_tokens"]))
    count_text, _, mode = rest.partition(":")
    if mode not in ("", "first", "all"):
        raise GovernorError(f"bad --requests {spec!r}: use sharegpt:N, sharegpt:N:first or sharegpt:N:all")
    if not SHAREGPT_FILE.exists():
        raise GovernorError(f"{SHAREGPT_FILE} is missing: run python datasets/derive_sharegpt_lengths.py")
    frame = _read_lengths(SHAREGPT_FILE, extra=("turn",))
    if mode == "first":
        frame = frame[frame["turn"] == 0]
    if mode != "all":
        frame = frame[(frame["prompt_tokens"] <= FUSE_MAX_PROMPT) & (frame["output_tokens"] <= FUSE_MAX_OUTPUT)]
    if count_text:
        if not count_text.isdigit() or int(count_text) < 1:
            raise GovernorError(f"bad --requests {spec!r}: N must be a positive whole number")
        count = int(count_text)
        if count > len(frame):
            raise GovernorError(f"--requests {spec}: only {len(frame)} requests pass the filter")
        rows = np.random.default_rng(seed).choice(len(frame), size=count, replace=False)
        frame = frame.iloc[np.sort(rows)]
    return Requests(spec, tuple(int(v) for v in frame["prompt_tokens"]), tuple(int(v) for v in frame["output_tokens"]))
