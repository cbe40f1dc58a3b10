"""LLM inference as llama.cpp's OpenCL backend runs it on a phone GPU (the build FUSE measured).

Weights matrix products run on the GPU: decode as dequantising matrix-vector kernels (every weight read
once per token, plus ALU work to unpack 4-bit blocks), prefill as dequantising GEMMs over the prompt
batch (compute-bound). Everything else runs on the CPU thread between them: attention over the KV cache,
norms, RoPE, residual adds, SiLU, sampling, and the driver work around each kernel. Per layer the thread
submits q, k, v and waits (it needs them for attention), submits the output projection and waits, gate
and up and waits, down and waits; the GPU queue lets it run ahead only inside those groups. That
serialisation is why decode latency and GPU utilisation respond to the CPU clock.

The constants below describe the runtime, not the phone; the phone's throughput and costs come from its
profile physics.
"""

from __future__ import annotations

from collections.abc import Iterator

from android.emulator.sim.llm_models import KV_BYTES, LlmModel
from android.emulator.sim.pipeline import KernelStream, stream_from_rows
from android.emulator.sim.workload import Segment, Workload
from android.errors import WorkloadError

DEQUANT_OPS_PER_WEIGHT = 6.0  # unpack a nibble, remove the offset, convert, scale (per weight)
MATVEC_EFFICIENCY = 0.25  # share of ALU peak the dequantising mat-vec kernels sustain
GEMM_EFFICIENCY = 0.17  # CLBlast-style GEMM with fused dequantisation on a mobile GPU
GEMM_TILE_REUSE = 8.0  # operand reuse of a register tile: local-memory bytes per MAC = 4 / reuse
MATVEC_LANES_PER_ROW = 16  # one subgroup per output row
CPU_FLOPS_PER_CYCLE = 8.0  # attention on the CPU thread (NEON fp32)
CPU_EXP_CYCLES = 20.0  # one softmax exponential
ELEMENT_CYCLES = 3.0  # norms, RoPE, residual adds, SiLU: cycles per activation element
SAMPLE_CYCLES_PER_VOCAB = 30.0  # softmax, top-k/top-p over the vocabulary
TOKEN_OVERHEAD_CYCLES = 1.0e6  # graph build, KV bookkeeping, detokenise
BATCH_TOKENS = 512  # llama.cpp n_batch: prompts are processed in batches of this many tokens
CONTEXT_BUCKET = 32  # decode layers are built for the middle of each 32-token context bucket


def _matmul(rows: int, cols: int, tokens: int, bits: float, **extra) -> dict:
    """One weight matrix (rows x cols) times `tokens` activation columns."""
    weight_bytes = rows * cols * bits / 8.0
    act_in, act_out = cols * tokens * 4.0, rows * tokens * 4.0
    if tokens == 1:
        kernel = dict(
            alu_ops=rows * cols * (2.0 + DEQUANT_OPS_PER_WEIGHT),
            load_store_bytes=weight_bytes + rows * cols * 0.5,
            l2_bytes=weight_bytes * 1.05 + act_in + act_out,
            threads=rows * MATVEC_LANES_PER_ROW,
            efficiency=MATVEC_EFFICIENCY,
        )
    else:
        macs = float(rows) * cols * tokens
        kernel = dict(
            alu_ops=2.0 * macs + rows * cols * DEQUANT_OPS_PER_WEIGHT,
            load_store_bytes=4.0 * macs / GEMM_TILE_REUSE,
            l2_bytes=2.0 * (weight_bytes + act_in) + act_out,
            threads=rows * tokens / 16.0,
            efficiency=GEMM_EFFICIENCY,
        )
    kernel.update(dram_read_bytes=weight_bytes + act_in, dram_write_bytes=act_out, kernels=1.0, **extra)
    return kernel


def _attention_host(model: LlmModel, tokens: int, past: int) -> tuple[float, float]:
    """CPU cycles and DRAM bytes of attention for `tokens` new tokens after `past` cached ones."""
    pairs = tokens * past + tokens * (tokens + 1) / 2.0  # causal query-key pairs
    flops = 4.0 * model.hidden * pairs
    cycles = flops / CPU_FLOPS_PER_CYCLE + model.heads * pairs * CPU_EXP_CYCLES
    kv_bytes = 2.0 * (past + tokens) * model.kv_dim * KV_BYTES
    return cycles, kv_bytes * max(1.0, tokens / 64.0)  # the cache is re-read per block of queries


def layer_stream(model: LlmModel, tokens: int, past: int) -> KernelStream:
    """One transformer layer for `tokens` new tokens with `past` tokens already in the KV cache."""
    h, kv, f, bits = model.hidden, model.kv_dim, model.ffn_hidden, model.bits_per_weight
    att_cycles, att_bytes = _attention_host(model, tokens, past)
    rope_kv = tokens * (h + 3 * kv) * ELEMENT_CYCLES
    residual_norm = tokens * 3 * h * ELEMENT_CYCLES
    rows = [
        _matmul(h, h, tokens, bits),
        _matmul(kv, h, tokens, bits),
        _matmul(
            kv,
            h,
            tokens,
            bits,
            sync_after=True,
            host_cycles=rope_kv + att_cycles,
            host_bytes=att_bytes + tokens * 2 * kv * KV_BYTES,
        ),
        _matmul(h, h, tokens, bits, sync_after=True, host_cycles=residual_norm),
        _matmul(f, h, tokens, bits),
        _matmul(f, h, tokens, bits, sync_after=True, host_cycles=tokens * 3 * f * ELEMENT_CYCLES),
        _matmul(h, f, tokens, bits, sync_after=True, host_cycles=residual_norm),
    ]
    return stream_from_rows(f"{model.name}:layer(n={tokens},past={past})", rows)


def head_stream(model: LlmModel) -> KernelStream:
    """Final norm, the output projection for the last token, then sampling on the CPU."""
    host = model.vocab * SAMPLE_CYCLES_PER_VOCAB + TOKEN_OVERHEAD_CYCLES
    rows = [
        _matmul(
            model.vocab,
            model.hidden,
            1,
            model.bits_per_weight,
            sync_after=True,
            host_cycles=host,
            host_bytes=model.vocab * 4.0,
        )
    ]
    return stream_from_rows(f"{model.name}:head", rows, lead_host_cycles=3 * model.hidden * ELEMENT_CYCLES)


class LlmRequest(Workload):
    """One request: prefill of `prompt_tokens`, then `decode_tokens` generated one at a time."""

    def __init__(self, model: LlmModel, prompt_tokens: int, decode_tokens: int, cpu: int | None = None):
        if prompt_tokens < 1:
            raise WorkloadError(f"prompt must be at least 1 token, got {prompt_tokens}")
        if decode_tokens < 0:
            raise WorkloadError(f"decode tokens must be >= 0, got {decode_tokens}")
        if prompt_tokens + decode_tokens > model.context:
            raise WorkloadError(
                f"{model.name}: {prompt_tokens} + {decode_tokens} tokens exceed its context of {model.context}"
            )
        self.model, self.prompt_tokens, self.decode_tokens = model, prompt_tokens, decode_tokens
        self._streams: dict[tuple, KernelStream] = {}
        super().__init__(name=f"llm:{model.name}", segments=self._segments(), cpu=cpu)

    def _stream(self, key: tuple) -> KernelStream:
        found = self._streams.get(key)
        if found is None:
            found = self._streams[key] = (
                head_stream(self.model) if key[0] == "head" else layer_stream(self.model, *key[1:])
            )
        return found

    def _segments(self) -> Iterator[Segment]:
        layers = self.model.layers
        done = 0
        while done < self.prompt_tokens:
            batch = min(BATCH_TOKENS, self.prompt_tokens - done)
            yield Segment(self._stream(("layer", batch, done)), layers, "prefill")
            done += batch
        yield Segment(self._stream(("head",)), 1, "prefill", mark="token")
        for i in range(self.decode_tokens):
            past = self.prompt_tokens + i
            bucket = (past // CONTEXT_BUCKET) * CONTEXT_BUCKET + CONTEXT_BUCKET // 2
            yield Segment(self._stream(("layer", 1, bucket)), layers, "decode")
            yield Segment(self._stream(("head",)), 1, "decode", mark="token")
