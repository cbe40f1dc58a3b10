"""`llama-cli` (current llama.cpp) and `main` (the b2202 build FUSE used) on the virtual phone: run the
simulated LLM (android.emulator.sim.llm) in simulated time and print what llama.cpp prints, including its
timing summary in that generation's format (REFERENCES.md section 7), so runners parse the real text.

`-m PATH` is a file on the phone: a fusegov LLM description (JSON, fusegov.llm) or a file named after a
built-in model (`tinyllama-1.1b-q4.gguf`); anything else is not a GGUF model and fails as llama.cpp does.
The prompt is tokenised one token per word (plus BOS), so `-p "the the the"` is 4 tokens; `-n N`
generates N tokens: the first from the prompt evaluation, N - 1 evaluation runs. Loading maps the weights
while the phone idles: at flash speed the first time, at page-cache speed when the file was loaded recently
and is still cached (llama.cpp mmaps the model, so a second run in a row on a phone skips most of the read).
Times printed come from the simulation's own token marks. The output streams as llama.cpp's does: the
prompt's echo as evaluation starts (not with --no-display-prompt), then each token as it is generated.
"""

from __future__ import annotations

import json
import posixpath
import signal
import weakref
from collections import OrderedDict

from android.emulator.shell.commands.simwait import sleep, wait_done
from android.emulator.shell.interp import Cancelled, Ctx, command
from android.emulator.sim.llm import SAMPLE_CYCLES_PER_VOCAB, LlmRequest
from android.emulator.sim.llm_models import builtin_models, check_fits, load_model, parse_model
from android.errors import DeviceError, WorkloadError

FLASH_BYTES_PER_S = 1.5e9  # UFS 3.1 sequential read: the time to map and touch the weights
PAGE_CACHE_BYTES_PER_S = 10e9  # mapping weights already in the page cache: page-table work, no flash read
_PAGE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # phone -> {(path, model): weight bytes}
STEP_S = 0.1  # the process checks on its request this often (simulated)
VALUE_FLAGS = {
    "-m",
    "--model",
    "-p",
    "--prompt",
    "-n",
    "--n-predict",
    "-t",
    "--threads",
    "-c",
    "--ctx-size",
    "-ngl",
    "--n-gpu-layers",
    "-b",
    "--batch-size",
    "--temp",
    "-s",
    "--seed",
    "-f",
    "--file",
    "--top-k",
    "--top-p",
    "--repeat-penalty",
}
SWITCHES = {
    "-no-cnv",
    "--no-conversation",
    "--log-timestamps",
    "--log-prefix",
    "--no-warmup",
    "-e",
    "--escape",
    "--no-display-prompt",
    "--simple-io",
    "--verbose-prompt",
}
WORDS = ("the", "of", "and", "a", "to", "in", "is", "it", "that", "for")


class _Usage(Exception):
    pass


def _parse(argv: list[str]) -> dict:
    opts: dict = {"switches": set()}
    args = argv[1:]
    while args:
        arg = args.pop(0)
        if arg in VALUE_FLAGS:
            if not args:
                raise _Usage(f"error: missing argument for {arg}")
            opts[arg.lstrip("-")] = args.pop(0)
        elif arg in SWITCHES:
            opts["switches"].add(arg)
        else:
            raise _Usage(f"error: invalid argument: {arg}")
    return opts


def _model_for(ctx: Ctx, path: str):
    """The LlmModel a model file stands for, or an error text as llama.cpp's loader prints it."""
    fs, uid = ctx.session.phone.fs, ctx.session.uid
    try:
        data = fs.read(path, uid)
    except DeviceError as exc:
        reason = "Permission denied" if "permission" in str(exc).lower() else "No such file or directory"
        return None, f"failed to open {path}: {reason}"
    if data.lstrip()[:1] == b"{":
        try:
            return parse_model(json.loads(data.decode()), source=path), ""
        except (ValueError, WorkloadError) as exc:
            return None, f"invalid model description {path}: {exc}"
    stem = posixpath.basename(path).lower()
    for suffix in (".gguf", ".bin"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    if stem in builtin_models():
        return load_model(stem), ""
    magic = data[:4].decode("latin-1")
    return None, f"gguf_init_from_file: invalid magic characters '{magic}', expected 'GGUF'"


def _prompt_tokens(text: str) -> int:
    return 1 + sum(1 + len(word) // 8 for word in text.split())  # BOS, then about one token per word


class _Log:
    """llama.cpp's log: optional `--log-timestamps` ('0.00.060.463 ') and `--log-prefix` (level letter)."""

    def __init__(self, ctx: Ctx, opts: dict, start_s: float):
        self.ctx, self.start_s = ctx, start_s
        self.stamps = "--log-timestamps" in opts["switches"]
        self.prefix = "--log-prefix" in opts["switches"]

    def __call__(self, text: str, level: str = "I") -> None:
        head = ""
        if self.stamps:
            us = int(round((self.ctx.session.phone.now_s - self.start_s) * 1e6))
            head += f"{us // 60_000_000}.{us // 1_000_000 % 60:02d}.{us // 1000 % 1000:03d}.{us % 1000:03d} "
        if self.prefix:
            head += f"{level} "
        self.ctx.err("".join(head + line + "\n" for line in text.split("\n")))


def _load_s(ctx: Ctx, path: str, model_name: str, weight_bytes: float) -> float:
    """Time to map the weights: from flash, or from the page cache if this file was loaded recently. The
    cache keeps the most recently loaded model files that fit in the memory an app may use."""
    phone = ctx.session.phone
    cached = _PAGE_CACHE.setdefault(phone, OrderedDict())
    key = (path, model_name)
    hit = key in cached
    cached.pop(key, None)
    cached[key] = weight_bytes
    room = phone.profile.memory_bytes * phone.profile.physics.memory.app_usable_fraction
    while sum(cached.values()) > room and len(cached) > 1:
        cached.popitem(last=False)
    return weight_bytes / (PAGE_CACHE_BYTES_PER_S if hit else FLASH_BYTES_PER_S)


@command("llama-cli", "main")
def cmd_llama(ctx: Ctx) -> int:
    legacy = posixpath.basename(ctx.argv[0]) == "main"
    try:
        opts = _parse(ctx.argv)
    except _Usage as exc:
        return ctx.fail(str(exc))
    phone = ctx.session.phone
    ctx.session.runtime.clock.sync()  # served: the run starts at the clock's now, where its caller's mark is
    start_s = phone.now_s
    log = _Log(ctx, opts, start_s)
    path = opts.get("m") or opts.get("model")
    if not path:
        log("error: no model given (-m FILE)", "E")
        return 1
    path = ctx.session.abspath(path)
    model, problem = _model_for(ctx, path)
    if model is None:
        if legacy:
            log(f"llama_model_load: error loading model: {problem}\nllama_load_model_from_file: failed to load model")
            log(f"llama_init_from_gpt_params: error: failed to load model '{path}'\nmain: error: unable to load model")
        else:
            log(f"llama_model_load: error loading model: {problem}", "E")
            log("llama_model_load_from_file_impl: failed to load model", "E")
            log(f"common_init_from_params: failed to load model '{path}'", "E")
            log("main: error: unable to load model", "E")
        return 1
    prompt = opts.get("p") or opts.get("prompt") or ""
    if opts.get("f") or opts.get("file"):
        try:
            prompt = phone.fs.read(ctx.session.abspath(opts.get("f") or opts.get("file")), ctx.session.uid).decode()
        except DeviceError as exc:
            log(f"error: failed to open file '{opts.get('f') or opts.get('file')}': {exc}", "E")
            return 1
    try:
        n_predict = int(opts.get("n") or opts.get("n-predict") or "32")
    except ValueError:
        return ctx.fail("error: invalid -n value")
    n_predict = max(n_predict, 1)
    n_prompt = _prompt_tokens(prompt)
    try:
        check_fits(
            model,
            n_prompt + n_predict,
            phone.profile.memory_bytes,
            phone.profile.physics.memory.app_usable_fraction,
            phone.profile.name,
        )
        request = LlmRequest(model, n_prompt, n_predict - 1)
    except WorkloadError as exc:
        log(f"llama_new_context_with_model: failed: {exc}", "E")
        return 1
    log(f"llama_model_loader: loaded meta data from {path} ({model.name})")
    log(f"llm_load_print_meta: n_layer = {model.layers}\nllm_load_print_meta: n_embd = {model.hidden}")
    sleep(ctx, _load_s(ctx, path, model.name, model.weight_bytes))
    t_load_end = phone.now_s
    try:
        with phone.lock:
            phone.start(request)
    except WorkloadError as exc:
        log(f"llama_decode: failed to decode: {exc}", "E")
        return 1
    interrupted = False
    if "--no-display-prompt" not in opts["switches"]:
        ctx.out(prompt)  # llama.cpp echoes the prompt as it starts evaluating it
    shown = [0]

    def show_tokens() -> None:
        """Each generated token's text as it comes, as llama.cpp streams them (hint wrappers rely on it)."""
        with phone.lock:
            count = sum(1 for _, mark in request.marks if mark == "token")
        ctx.out("".join(" " + WORDS[i % len(WORDS)] for i in range(shown[0], count)))
        shown[0] = count

    try:
        wait_done(ctx, request, STEP_S, on_step=show_tokens)
    except Cancelled as exc:
        if exc.signal_no != signal.SIGINT:
            raise
        interrupted = True  # llama.cpp's SIGINT handler prints the timings so far and exits 130
    finally:
        if not request.done:
            with phone.lock:
                phone.sim.stop()
    tokens = [t for t, mark in request.marks if mark == "token"]
    cpu_policy = phone.sim.cpu_policy[request.cpu]
    sample_s = SAMPLE_CYCLES_PER_VOCAB * model.vocab / phone.knobs[cpu_policy].cur_hz
    evaluated = n_prompt if tokens else 0  # the prompt counts once its evaluation has finished
    prompt_s = tokens[0] - request.started_s - sample_s if tokens else 0.0
    runs = max(len(tokens) - 1, 0)
    eval_s = (tokens[-1] - tokens[0]) - runs * sample_s if tokens else 0.0
    total_s = (tokens[-1] if tokens and not interrupted else phone.now_s) - start_s
    show_tokens()
    ctx.out("\n")
    name = "llama_print_timings" if legacy else "llama_perf_context_print"
    sampler_name = "llama_print_timings" if legacy else "llama_perf_sampler_print"
    sample_label = "     sample time" if legacy else "   sampling time"

    def rate(ms: float, n: int) -> str:
        per = ms / n if n else float("inf")
        return f"({per:8.2f} ms per token, {1e3 / per if per else float('inf'):8.2f} tokens per second)"

    n_samples = len(tokens)
    lines = []
    if legacy:
        lines.append(f"\n{name}:        load time = {(t_load_end - start_s) * 1e3:10.2f} ms")
    sample_line = f"{sampler_name}: {sample_label} = {n_samples * sample_s * 1e3:10.2f} ms / {n_samples:5d} runs   {rate(n_samples * sample_s * 1e3, n_samples)}"
    if legacy:
        lines.append(sample_line)
    else:
        lines += [sample_line, f"{name}:        load time = {(t_load_end - start_s) * 1e3:10.2f} ms"]
    lines.append(
        f"{name}: prompt eval time = {prompt_s * 1e3:10.2f} ms / {evaluated:5d} tokens {rate(prompt_s * 1e3, evaluated)}"
    )
    lines.append(f"{name}:        eval time = {eval_s * 1e3:10.2f} ms / {runs:5d} runs   {rate(eval_s * 1e3, runs)}")
    tail = "" if legacy else f" / {evaluated + runs:5d} tokens"
    lines.append(f"{name}:       total time = {total_s * 1e3:10.2f} ms{tail}")
    log("\n".join(lines))
    if interrupted:
        log("Interrupted by user")
        return 130
    return 0
