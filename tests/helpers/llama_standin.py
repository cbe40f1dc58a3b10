"""A stand-in `llama-cli` for the virtual phone, until the collectors' own lands on main: it runs the
virtual phone's simulated LLM (android.emulator.sim.llm) in real (simulated) time and prints what
llama.cpp's CLI prints: loading lines on stderr, the prompt's echo (unless --no-display-prompt), one piece
of text per generated token as the token is produced, and llama.cpp's perf summary on stderr at the end
(`prompt eval time = X ms / N tokens`, `eval time = X ms / M runs`).

Only what the tests need: `-m MODEL.gguf` names a built-in model by its file's stem (the file itself is
not read), `-p TEXT` or `-f FILE` gives the prompt (tokens = whitespace-separated words), `-n N` the tokens
to generate. Killing it abandons the request, as killing the app does.

`python -m tests.helpers.llama_standin emulate ...` runs `fusegov emulate` with this command installed.
"""

from __future__ import annotations

import posixpath
import signal
import sys

from android.emulator.shell.interp import Cancelled, Ctx, command
from android.errors import DeviceError, WorkloadError

POLL_S = 0.01  # simulated seconds between checks for new tokens


def _option(argv: list[str], *flags: str) -> str | None:
    value = None
    for k, arg in enumerate(argv):
        if arg in flags and k + 1 < len(argv):
            value = argv[k + 1]
    return value


@command("llama-cli")
def cmd_llama_cli(ctx: Ctx) -> int:
    from android.emulator.datafiles import builtin_names
    from android.emulator.sim.llm import LlmRequest
    from android.emulator.sim.llm_models import MODELS_DIR, check_fits, load_model

    argv = ctx.argv[1:]
    session = ctx.session
    phone = session.phone
    model_path = _option(argv, "-m", "--model")
    if model_path is None:
        return ctx.fail("error: -m MODEL is required")
    stem = posixpath.basename(model_path).removesuffix(".gguf")
    if stem not in builtin_names(MODELS_DIR):
        return ctx.fail(f"error: failed to load model '{model_path}' (models: {', '.join(builtin_names(MODELS_DIR))})")
    prompt = _option(argv, "-p", "--prompt")
    prompt_file = _option(argv, "-f", "--file")
    if prompt_file is not None:
        try:
            prompt = phone.fs.read(session.abspath(prompt_file), session.uid).decode(errors="replace")
        except DeviceError as exc:
            return ctx.fail(f"error: failed to open file '{prompt_file}': {exc}")
    prompt = prompt or ""
    n_predict = int(_option(argv, "-n", "--n-predict") or 128)
    tokens = max(1, len(prompt.split()))
    model = load_model(stem)
    try:
        check_fits(
            model,
            tokens + n_predict,
            phone.profile.memory_bytes,
            phone.profile.physics.memory.app_usable_fraction,
            phone.profile.name,
        )
        request = LlmRequest(model, tokens, n_predict)
    except WorkloadError as exc:
        return ctx.fail(f"error: {exc}")
    ctx.err(f"llama_model_loader: loaded meta data from {model_path} ({model.name})\n")
    ctx.err(f"main: prompt: {tokens} tokens, n_predict = {n_predict}\n")
    if "--no-display-prompt" not in argv:
        ctx.out(prompt.encode())
    clock = session.runtime.clock
    try:
        with phone.lock:
            phone.start(request)
    except WorkloadError as exc:
        return ctx.fail(f"error: {exc}")
    shown = 0
    try:
        while True:
            with phone.lock:
                marks = [t for t, m in request.marks if m == "token"]
                done = request.done
            for _ in marks[shown:]:
                ctx.out(b" tok")
            shown = len(marks)
            if done:
                break
            if not clock.sleep(POLL_S, session.proc.pid, session.foreground, session.cancel):
                raise Cancelled(session.proc.signal_no or signal.SIGTERM)
    except Cancelled:
        with phone.lock:
            phone.sim.stop()
        raise
    ctx.out(b"\n\n")
    first, last = marks[0], marks[-1]
    prompt_ms = (first - request.started_s) * 1e3
    eval_ms = (last - first) * 1e3
    runs = max(len(marks) - 1, 0)
    ctx.err(
        f"llama_perf_context_print: prompt eval time = {prompt_ms:10.2f} ms / {tokens:5d} tokens "
        f"({prompt_ms / tokens:8.2f} ms per token, {tokens / (prompt_ms / 1e3):8.2f} tokens per second)\n"
        f"llama_perf_context_print:        eval time = {eval_ms:10.2f} ms / {runs:5d} runs   "
        f"({eval_ms / max(runs, 1):8.2f} ms per token, {runs / max(eval_ms / 1e3, 1e-9):8.2f} tokens per second)\n"
        f"llama_perf_context_print:       total time = {(last - request.started_s) * 1e3:10.2f} ms / "
        f"{tokens + runs:5d} tokens\n"
    )
    return 0


if __name__ == "__main__":
    from governor.cli import main

    sys.exit(main(sys.argv[1:]))
