"""LLM model descriptions: the built-in ones (android/emulator/models/*.json) and users' own files.

A model is described by its size, which is all the virtual phone needs to know how much work and memory
traffic prefill and decode cost: parameters, layers, hidden size, quantisation bits and vocabulary;
attention heads, KV heads and the FFN width refine it (derived from the parameter count when absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from android.emulator.datafiles import builtin_names, read_named_json
from android.errors import WorkloadError

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODEL_FORMAT = "fusegov.llm"
KV_BYTES = 2  # fp16 KV cache
RUNTIME_OVERHEAD_BYTES = 160 * 2**20  # compute buffers, tokenizer, the runtime itself


@dataclass(frozen=True)
class LlmModel:
    name: str
    params: int
    layers: int
    hidden: int
    vocab: int
    quant_bits: int  # bits per weight before block scales
    heads: int
    kv_heads: int
    ffn_hidden: int
    context: int = 2048
    quant_block: int = 32  # weights per fp16 scale (llama.cpp q4_0 / q8_0)
    tied_embeddings: bool = False

    @property
    def bits_per_weight(self) -> float:
        return self.quant_bits + 16.0 / self.quant_block

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def weight_bytes(self) -> float:
        return self.params * self.bits_per_weight / 8

    def kv_cache_bytes(self, tokens: int) -> float:
        return 2.0 * self.layers * tokens * self.kv_dim * KV_BYTES

    def memory_bytes(self, tokens: int) -> float:
        """What a request of `tokens` total tokens keeps resident."""
        return self.weight_bytes + self.kv_cache_bytes(tokens) + RUNTIME_OVERHEAD_BYTES


def builtin_models() -> list[str]:
    return builtin_names(MODELS_DIR)


def load_model(name_or_path: str | Path) -> LlmModel:
    """A built-in model by name, or a model file (JSON) by path."""
    raw, path = read_named_json(name_or_path, MODELS_DIR, "LLM model", WorkloadError)
    return parse_model(raw, source=str(path))


def parse_model(raw: object, source: str = "<dict>") -> LlmModel:
    """Validate a model description; errors name the file and the field."""
    if not isinstance(raw, dict):
        raise WorkloadError(f"model {source}: must be a JSON object")

    def need(key: str, kind: type = int, minimum: float = 1):
        if key not in raw:
            raise WorkloadError(f"model {source}: field {key} is missing")
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise WorkloadError(f"model {source}: field {key} must be {kind.__name__}, got {value!r}")
        if value < minimum:
            raise WorkloadError(f"model {source}: field {key} must be >= {minimum}, got {value!r}")
        return value

    if raw.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise WorkloadError(f"model {source}: field format must be {MODEL_FORMAT!r}")
    name = raw.get("name") or Path(source).stem
    params, layers, hidden, vocab = need("params"), need("layers"), need("hidden"), need("vocab")
    bits = need("quant_bits")
    if bits not in (2, 3, 4, 5, 6, 8, 16):
        raise WorkloadError(f"model {source}: field quant_bits must be one of 2, 3, 4, 5, 6, 8, 16, got {bits}")
    heads = need("heads") if "heads" in raw else max(1, hidden // 64)
    kv_heads = need("kv_heads") if "kv_heads" in raw else heads
    if hidden % heads or heads % kv_heads:
        raise WorkloadError(
            f"model {source}: hidden ({hidden}) must divide by heads ({heads}) and heads by kv_heads ({kv_heads})"
        )
    tied = bool(raw.get("tied_embeddings", False))
    kv_dim = kv_heads * (hidden // heads)
    embed = vocab * hidden * (1 if tied else 2)
    if "ffn_hidden" in raw:
        ffn = need("ffn_hidden")
    else:  # gated FFN: three hidden x ffn matrices per layer
        per_layer = (params - embed) / layers - 2 * hidden * hidden - 2 * hidden * kv_dim
        ffn = int(per_layer / (3 * hidden))
        if ffn < hidden:
            raise WorkloadError(
                f"model {source}: {params} parameters are too few for {layers} layers of hidden "
                f"size {hidden} and a vocabulary of {vocab}"
            )
    return LlmModel(
        name=str(name),
        params=int(params),
        layers=int(layers),
        hidden=int(hidden),
        vocab=int(vocab),
        quant_bits=int(bits),
        heads=int(heads),
        kv_heads=int(kv_heads),
        ffn_hidden=int(ffn),
        context=int(need("context") if "context" in raw else 2048),
        quant_block=int(need("quant_block") if "quant_block" in raw else 32),
        tied_embeddings=tied,
    )


def check_fits(model: LlmModel, tokens: int, phone_memory_bytes: int, usable_fraction: float, phone: str) -> None:
    """A clear error when the model and its KV cache do not fit what the phone gives one app."""
    if tokens > model.context:
        raise WorkloadError(f"{model.name}: {tokens} tokens exceed its context of {model.context}")
    need = model.memory_bytes(tokens)
    usable = phone_memory_bytes * usable_fraction
    if need > usable:
        raise WorkloadError(
            f"{model.name} needs {need / 2**30:.1f} GiB ({model.weight_bytes / 2**30:.1f} GiB of weights) but "
            f"{phone} gives an app at most {usable / 2**30:.1f} GiB of its {phone_memory_bytes / 2**30:.0f} GiB"
        )
