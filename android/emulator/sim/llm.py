"""LLM inference as llama.cpp's OpenCL backends run it on a phone GPU.

Two runtimes (`RUNTIMES`; a profile names its phone's in physics.llm_runtime, a request may override):

- `clblast`, the build FUSE measured (b2202, OpenCL with CLBlast): only the weight matrix products run on
  the GPU - decode as dequantising matrix-vector kernels (every weight read once per token, plus ALU work
  to unpack 4-bit blocks), prefill as a dequantise kernel writing fp32 weights followed by CLBlast SGEMM
  over the prompt batch (compute-bound; the fp32 weights are re-read from DRAM once per token tile).
  Everything else runs on the CPU thread between them: attention over the KV cache, norms, RoPE,
  residual adds, SiLU, sampling, and the driver work around each kernel. The graph runs node by node:
  each product is enqueued, waited for and read back before the thread moves on, so CPU and GPU take
  turns (the queue never holds more than one job). That serialisation is why decode latency and GPU
  utilisation respond to the CPU clock.
- `opencl-adreno`, the backend Qualcomm contributed (2024): the whole graph runs on the GPU (norms,
  RoPE, attention, activations as kernels), the thread enqueues a token's kernels as fast as the queue
  takes them and waits once per token, for the logits, then samples on the CPU.

The constants describe the runtimes, not the phone; the phone's throughput and costs come from its
profile physics.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from android.emulator.sim.llm_models import KV_BYTES, LlmModel
from android.emulator.sim.pipeline import KernelStream, stream_from_rows
from android.emulator.sim.workload import Segment, Workload
from android.errors import WorkloadError

MATVEC_LANES_PER_ROW = 16  # one subgroup per output row
CPU_FLOPS_PER_CYCLE = 4.0  # attention on the CPU thread: NEON fp32 peak is 8, ggml reaches about half
GPU_ATTENTION_EFFICIENCY = 0.3  # attention kernels' share of ALU peak
GPU_ELEMENT_OPS = 10.0  # norms, RoPE, residual adds, SiLU as GPU kernels: ops per activation element
CPU_EXP_CYCLES = 20.0  # one softmax exponential
ELEMENT_CYCLES = 3.0  # norms, RoPE, residual adds, SiLU: cycles per activation element
SAMPLE_CYCLES_PER_VOCAB = 30.0  # softmax, top-k/top-p over the vocabulary
TOKEN_OVERHEAD_CYCLES = 1.0e6  # graph build, KV bookkeeping, detokenise
STREAM_CACHE_SIZE = 256  # streams kept across requests (with their cached timings per clock setting)
BATCH_TOKENS = 512  # llama.cpp n_batch: prompts are processed in batches of this many tokens
CONTEXT_BUCKET = 32  # decode layers are built for the middle of each 32-token context bucket
OFFLOAD_MIN = 32  # b2202's ggml_cl_can_mul_mat: a product goes to the GPU when all its dimensions reach this
MASKED_CYCLES = 2.0  # softmax over a causally masked (-inf) score: a compare and a zero store


@dataclass(frozen=True)
class LlmRuntime:
    """How a llama.cpp GPU backend runs a transformer: which work the GPU does, how well, and where the
    CPU thread waits."""

    name: str
    dequant_ops_per_weight: float  # unpack a nibble, remove the offset, convert, scale
    matvec_efficiency: float  # share of ALU peak the dequantising mat-vec kernels sustain
    gemm_efficiency: float  # share of ALU peak of the prefill GEMMs
    gemm_tile_reuse: float  # operand reuse of a register tile: local-memory bytes per MAC = 4 / reuse
    gemm_weight_bytes: float  # bytes per weight the GEMM reads (4: dequantised to fp32 first; 0: in place)
    gemm_token_tile: int  # prefill: the GEMM re-reads its weights from DRAM once per this many tokens
    gpu_graph: bool  # norms, RoPE, attention and activations run on the GPU, one wait per token


RUNTIMES = {
    "clblast": LlmRuntime(
        name="clblast",
        dequant_ops_per_weight=6.0,
        matvec_efficiency=0.31,
        gemm_efficiency=0.17,
        gemm_tile_reuse=8.0,
        gemm_weight_bytes=4.0,
        gemm_token_tile=128,
        gpu_graph=False,
    ),
    "opencl-adreno": LlmRuntime(
        name="opencl-adreno",
        dequant_ops_per_weight=4.0,
        matvec_efficiency=0.5,
        gemm_efficiency=0.6,
        gemm_tile_reuse=16.0,
        gemm_weight_bytes=0.0,
        gemm_token_tile=256,
        gpu_graph=True,
    ),
}
DEFAULT_RUNTIME = "clblast"


def runtime_named(name: str, where: str = "runtime") -> LlmRuntime:
    found = RUNTIMES.get(name)
    if found is None:
        raise WorkloadError(f"{where}: unknown LLM runtime {name!r} (one of {', '.join(sorted(RUNTIMES))})")
    return found


def _matmul(rt: LlmRuntime, rows: int, cols: int, tokens: int, bits: float, **extra) -> list[dict]:
    """One weight matrix (rows x cols) times `tokens` activation columns: its kernel(s)."""
    weight_bytes = rows * cols * bits / 8.0
    act_in, act_out = cols * tokens * 4.0, rows * tokens * 4.0
    weights = float(rows) * cols
    if tokens == 1:
        kernel = dict(
            alu_ops=weights * (2.0 + rt.dequant_ops_per_weight),
            load_store_bytes=weight_bytes + weights * 0.5,
            l2_bytes=weight_bytes * 1.05 + act_in + act_out,
            threads=rows * MATVEC_LANES_PER_ROW,
            efficiency=rt.matvec_efficiency,
            dram_read_bytes=weight_bytes + act_in,
            dram_write_bytes=act_out,
            kernels=1.0,
        )
        kernel.update(extra)
        return [kernel]
    macs = weights * tokens
    passes = -(-tokens // rt.gemm_token_tile)  # weight re-reads, one per token tile
    kernels = []
    if rt.gemm_weight_bytes:  # a dequantise kernel writes the weights out for the GEMM
        kernels.append(
            dict(
                alu_ops=weights * rt.dequant_ops_per_weight,
                load_store_bytes=weight_bytes + weights * rt.gemm_weight_bytes,
                l2_bytes=weight_bytes + weights * rt.gemm_weight_bytes,
                threads=weights / 8.0,
                efficiency=rt.matvec_efficiency,
                dram_read_bytes=weight_bytes,
                dram_write_bytes=weights * rt.gemm_weight_bytes,
                kernels=1.0,
            )
        )
        read = weights * rt.gemm_weight_bytes * passes
        dequant_ops = 0.0
    else:
        read = weight_bytes * passes
        dequant_ops = weights * rt.dequant_ops_per_weight * passes
    kernel = dict(
        alu_ops=2.0 * macs + dequant_ops,
        load_store_bytes=4.0 * macs / rt.gemm_tile_reuse,
        l2_bytes=2.0 * (read + act_in) + act_out,
        threads=rows * tokens / 16.0,
        efficiency=rt.gemm_efficiency,
        dram_read_bytes=read + act_in,
        dram_write_bytes=act_out,
        kernels=1.0,
    )
    kernel.update(extra)
    return kernels + [kernel]


def _gpu_elementwise(elements: float, **extra) -> dict:
    """Norms, RoPE, residual adds, activations as one GPU kernel over `elements` activations."""
    kernel = dict(
        alu_ops=elements * GPU_ELEMENT_OPS,
        load_store_bytes=elements * 8.0,
        l2_bytes=elements * 8.0,
        threads=elements,
        efficiency=GPU_ATTENTION_EFFICIENCY,
        dram_read_bytes=elements * 4.0,
        dram_write_bytes=elements * 4.0,
        kernels=1.0,
    )
    kernel.update(extra)
    return kernel


def _attention(model: LlmModel, tokens: int, past: int) -> tuple[float, float, float]:
    """FLOPs, exponentials and KV-cache DRAM bytes of attention for `tokens` new tokens after `past`."""
    pairs = tokens * past + tokens * (tokens + 1) / 2.0  # causal query-key pairs
    kv_bytes = 2.0 * (past + tokens) * model.kv_dim * KV_BYTES
    return 4.0 * model.hidden * pairs, model.heads * pairs, kv_bytes * max(1.0, tokens / 64.0)


def _layer_rows(model: LlmModel, rt: LlmRuntime, tokens: int, past: int) -> list[dict]:
    """One transformer layer for `tokens` new tokens with `past` tokens already in the KV cache."""
    h, kv, f, bits = model.hidden, model.kv_dim, model.ffn_hidden, model.bits_per_weight
    flops, exps, kv_bytes = _attention(model, tokens, past)
    if rt.gpu_graph:  # every op a GPU kernel, no waits inside the layer
        attention = dict(
            alu_ops=flops,
            sfu_ops=exps,
            load_store_bytes=kv_bytes + tokens * h * 8.0,
            l2_bytes=kv_bytes + tokens * h * 8.0,
            threads=model.heads * tokens * 32.0,
            efficiency=GPU_ATTENTION_EFFICIENCY,
            dram_read_bytes=kv_bytes + tokens * h * 4.0,
            dram_write_bytes=tokens * (h + 2 * kv) * 4.0,
            kernels=1.0,
        )
        return [
            _gpu_elementwise(tokens * h),  # attention norm
            *_matmul(rt, h, h, tokens, bits),
            *_matmul(rt, kv, h, tokens, bits),
            *_matmul(rt, kv, h, tokens, bits),
            _gpu_elementwise(tokens * (h + kv)),  # RoPE on q and k, KV cache store
            attention,
            *_matmul(rt, h, h, tokens, bits),
            _gpu_elementwise(tokens * h * 2),  # residual add and FFN norm
            *_matmul(rt, f, h, tokens, bits),
            *_matmul(rt, f, h, tokens, bits),
            _gpu_elementwise(tokens * f),  # SiLU(gate) * up
            *_matmul(rt, h, f, tokens, bits),
            _gpu_elementwise(tokens * h),  # residual add
        ]
    rope_kv = tokens * (h + 3 * kv) * ELEMENT_CYCLES
    residual_norm = tokens * 3 * h * ELEMENT_CYCLES
    kv_store = tokens * 2 * kv * KV_BYTES
    if min(tokens, past + tokens, model.head_dim) >= OFFLOAD_MIN:
        # a prompt batch: b2202 sends the KQ and KQV products to the GPU too (ggml_cl_can_mul_mat: every
        # dimension >= 32), one CLBlast GEMM per head; scale, mask and softmax stay on the thread
        attention = _attention_products(model, rt, tokens, past)
        qkv_host = dict(host_cycles=rope_kv, host_bytes=kv_store)
    else:  # decode (and short batches): attention on the thread, over the KV cache
        attention = []
        qkv_host = dict(
            host_cycles=rope_kv + flops / CPU_FLOPS_PER_CYCLE + exps * CPU_EXP_CYCLES, host_bytes=kv_bytes + kv_store
        )
    # b2202 runs the graph node by node on the CPU thread: every matrix product is enqueued, waited for and
    # read back before the next node, and the host work between them needs its result
    return [
        *_matmul(rt, h, h, tokens, bits, sync_after=True),
        *_matmul(rt, kv, h, tokens, bits, sync_after=True),
        *_matmul(rt, kv, h, tokens, bits, sync_after=True, **qkv_host),
        *attention,
        *_matmul(rt, h, h, tokens, bits, sync_after=True, host_cycles=residual_norm),
        *_matmul(rt, f, h, tokens, bits, sync_after=True),
        *_matmul(rt, f, h, tokens, bits, sync_after=True, host_cycles=tokens * 3 * f * ELEMENT_CYCLES),
        *_matmul(rt, h, f, tokens, bits, sync_after=True, host_cycles=residual_norm),
    ]


def _attention_products(model: LlmModel, rt: LlmRuntime, tokens: int, past: int) -> list[dict]:
    """KQ and KQV of a prompt batch as b2202's ggml_cl_mul_mat runs them: per query head, the K (or V)
    slice of the fp16 cache and the activations are copied to the device, one GEMM runs and its result
    is read back with a blocking read. Between the two products the thread scales, masks and softmaxes
    every head's full n_kv-wide rows (masked entries cost little)."""
    n_kv, d = past + tokens, model.head_dim
    pairs = tokens * past + tokens * (tokens + 1) / 2.0  # unmasked (causal) query-key pairs
    scores = tokens * n_kv * 4.0  # one head's KQ, fp32
    softmax = model.heads * (pairs * CPU_EXP_CYCLES + (tokens * n_kv - pairs) * MASKED_CYCLES)
    kq = (n_kv, tokens, d, n_kv * d * KV_BYTES + tokens * d * 4.0)  # rows, columns, inner; K slice and queries
    kqv = (d, tokens, n_kv, n_kv * d * KV_BYTES + scores)  # V slice and the probabilities
    after_kq = dict(host_cycles=softmax, host_bytes=2.0 * model.heads * scores)  # scale, mask, softmax in place
    after_kqv = dict(host_cycles=tokens * model.hidden * ELEMENT_CYCLES, host_bytes=0.0)  # heads merged (cont)
    rows = []
    for (m, n, k, inputs), after in ((kq, after_kq), (kqv, after_kqv)):
        out = m * n * 4.0
        product = dict(
            alu_ops=2.0 * m * n * k,
            load_store_bytes=4.0 * m * n * k / rt.gemm_tile_reuse,
            l2_bytes=2.0 * inputs + out,
            threads=m * n / 16.0,
            efficiency=rt.gemm_efficiency,
            dram_read_bytes=inputs,
            dram_write_bytes=out,
            kernels=1.0,
            sync_after=True,
            host_bytes=inputs + out,  # the copies in and the read-back
        )
        last = dict(product, host_cycles=after["host_cycles"], host_bytes=product["host_bytes"] + after["host_bytes"])
        rows += [product] * (model.heads - 1) + [last]
    return rows


def _head_rows(model: LlmModel, rt: LlmRuntime) -> list[dict]:
    """Final norm, the output projection for the last token, the wait for the logits, then sampling."""
    host = model.vocab * SAMPLE_CYCLES_PER_VOCAB + TOKEN_OVERHEAD_CYCLES
    norm = [_gpu_elementwise(model.hidden)] if rt.gpu_graph else []
    return norm + _matmul(
        rt,
        model.vocab,
        model.hidden,
        1,
        model.bits_per_weight,
        sync_after=True,
        host_cycles=host,
        host_bytes=model.vocab * 4.0,
    )


def layer_stream(model: LlmModel, tokens: int, past: int, runtime: LlmRuntime | None = None) -> KernelStream:
    """One transformer layer (the `clblast` runtime's unit of work)."""
    rt = runtime or RUNTIMES[DEFAULT_RUNTIME]
    return stream_from_rows(f"{model.name}:layer(n={tokens},past={past})", _layer_rows(model, rt, tokens, past))


def head_stream(model: LlmModel, runtime: LlmRuntime | None = None) -> KernelStream:
    rt = runtime or RUNTIMES[DEFAULT_RUNTIME]
    lead = 0.0 if rt.gpu_graph else 3 * model.hidden * ELEMENT_CYCLES
    return stream_from_rows(f"{model.name}:head", _head_rows(model, rt), lead_host_cycles=lead)


def graph_stream(model: LlmModel, tokens: int, past: int, runtime: LlmRuntime) -> KernelStream:
    """A whole forward pass as one unit (the `opencl-adreno` runtime): every layer, then the head."""
    return stream_from_rows(
        f"{model.name}:graph(n={tokens},past={past})",
        _layer_rows(model, runtime, tokens, past),
        repeat=model.layers,
        tail=_head_rows(model, runtime),
    )


_STREAMS: OrderedDict[tuple, KernelStream] = OrderedDict()


def _cached_stream(key: tuple, build) -> KernelStream:
    """Requests for the same model, runtime and phone physics share streams, so a sweep of many requests
    schedules each (stream, clock setting) once."""
    found = _STREAMS.get(key)
    if found is None:
        found = _STREAMS[key] = build()
        if len(_STREAMS) > STREAM_CACHE_SIZE:
            _STREAMS.popitem(last=False)
    else:
        _STREAMS.move_to_end(key)
    return found


class LlmRequest(Workload):
    """One request: prefill of `prompt_tokens`, then `decode_tokens` generated one at a time. The runtime
    is the phone's (physics.llm_runtime) unless `runtime` names one. `prefilled`: the prompt is already in
    the KV cache, so only the decode runs (its tokens attend to the prompt all the same)."""

    def __init__(
        self,
        model: LlmModel,
        prompt_tokens: int,
        decode_tokens: int,
        cpu: int | None = None,
        runtime: str | None = None,
        prefilled: bool = False,
    ):
        if prompt_tokens < 1:
            raise WorkloadError(f"prompt must be at least 1 token, got {prompt_tokens}")
        if decode_tokens < 0:
            raise WorkloadError(f"decode tokens must be >= 0, got {decode_tokens}")
        if prompt_tokens + decode_tokens > model.context:
            raise WorkloadError(
                f"{model.name}: {prompt_tokens} + {decode_tokens} tokens exceed its context of {model.context}"
            )
        self.model, self.prompt_tokens, self.decode_tokens = model, prompt_tokens, decode_tokens
        self.prefilled = prefilled
        self.runtime = runtime_named(runtime) if runtime is not None else None
        self._fingerprint = 0
        self._streams: dict[tuple, KernelStream] = {}
        super().__init__(name=f"llm:{model.name}", segments=self._segments(), cpu=cpu)

    def prepare(self, physics, fingerprint: int = 0) -> None:
        if self.runtime is None:
            self.runtime = runtime_named(physics.llm_runtime, "physics.llm_runtime")
        self._fingerprint = fingerprint

    def stream(self, key: tuple) -> KernelStream:
        """The request's unit of work `key`: ("layer", tokens, past), ("head",) or ("graph", tokens, past)."""
        found = self._streams.get(key)
        if found is None:
            rt = self.runtime or RUNTIMES[DEFAULT_RUNTIME]
            kind, rest = key[0], key[1:]

            def build() -> KernelStream:
                if kind == "head":
                    return head_stream(self.model, rt)
                if kind == "graph":
                    return graph_stream(self.model, *rest, rt)
                return layer_stream(self.model, *rest, rt)

            found = self._streams[key] = _cached_stream((self.model, rt.name, key, self._fingerprint), build)
        return found

    def _segments(self) -> Iterator[Segment]:
        layers = self.model.layers
        graph = (self.runtime or RUNTIMES[DEFAULT_RUNTIME]).gpu_graph
        done = self.prompt_tokens if self.prefilled else 0
        while done < self.prompt_tokens:
            batch = min(BATCH_TOKENS, self.prompt_tokens - done)
            last = done + batch >= self.prompt_tokens
            if graph:
                yield Segment(self.stream(("graph", batch, done)), 1, "prefill", mark="token" if last else "")
            else:
                yield Segment(self.stream(("layer", batch, done)), layers, "prefill")
            done += batch
        if not graph and not self.prefilled:
            yield Segment(self.stream(("head",)), 1, "prefill", mark="token")
        token: tuple[Segment, ...] = ()  # a decode token's segments: the same objects through a context bucket
        bucket = -1
        for i in range(self.decode_tokens):
            past = self.prompt_tokens + i
            middle = (past // CONTEXT_BUCKET) * CONTEXT_BUCKET + CONTEXT_BUCKET // 2
            if middle != bucket:
                bucket = middle
                if graph:
                    token = (Segment(self.stream(("graph", 1, bucket)), 1, "decode", mark="token"),)
                else:
                    token = (
                        Segment(self.stream(("layer", 1, bucket)), layers, "decode"),
                        Segment(self.stream(("head",)), 1, "decode", mark="token"),
                    )
            yield from token
