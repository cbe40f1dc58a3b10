"""LLM inference through llama.cpp's command-line tool on the phone, phases from its timing summary."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from collectors.errors import CollectorError
from collectors.runners import TIMED_OUT, Runner, RunResult
from collectors.runners.timings import parse_timings

DEFAULT_BIN = "llama-cli"
MODEL_DIR = "/data/local/tmp/fusegov/models"
PROMPT_DIR = "/data/local/tmp/fusegov/prompts"


class LlmRunner(Runner):
    kind = "llm"

    @staticmethod
    def check(spec) -> None:
        if not spec.target:
            raise CollectorError(f"--workload {spec.text!r}: name the GGUF model (llm:/data/local/tmp/model.gguf)")

    def __init__(self, spec, sampler_path):
        super().__init__(spec, sampler_path)
        self.binary = spec.options.get("bin", DEFAULT_BIN)
        self.prompt_tokens = self._int("prompt", 64)
        self.decode_tokens = self._int("decode", 32)
        self.model_path = spec.target

    def prepare(self, device) -> None:
        if "/" not in self.model_path:
            from android.emulator.sim.llm_models import MODELS_DIR, builtin_models

            if self.model_path not in builtin_models():
                raise CollectorError(
                    f"--workload {self.spec.text!r}: {self.model_path!r} is neither a path on the phone nor a built-in "
                    f"model ({', '.join(builtin_models())})"
                )
            remote = f"{MODEL_DIR}/{self.model_path}.gguf"
            device.shell(f"mkdir -p {MODEL_DIR}")
            device.push(Path(MODELS_DIR) / f"{self.model_path}.json", remote)
            self.model_path = remote
        check = device.shell(f"command -v {shlex.quote(self.binary)} || test -x {shlex.quote(self.binary)}")
        if not check.ok:
            raise CollectorError(
                f"{device.name}: llama.cpp binary {self.binary!r} not found on the phone: push it (e.g. to "
                "/data/local/tmp/llama-cli, chmod +x) and give bin=PATH"
            )
        if not device.exists(self.model_path):
            raise CollectorError(
                f"{device.name}: model file {self.model_path} not found on the phone: push the GGUF file"
            )
        self._push_prompt(device)

    def _push_prompt(self, device) -> None:
        """A prompt of `prompt_tokens` tokens ("the" is one token after BOS in LLaMA-family vocabularies),
        passed with -f."""
        self.prompt_path = f"{PROMPT_DIR}/prompt-{self.prompt_tokens}.txt"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "prompt.txt"
            local.write_text(" ".join(["the"] * (self.prompt_tokens - 1)))
            device.shell(f"mkdir -p {PROMPT_DIR}")
            device.push(local, self.prompt_path)

    def run(self, device, budget_s: float | None = None) -> RunResult:
        argv = [
            self.binary,
            "-m",
            self.model_path,
            "-f",
            self.prompt_path,
            "-n",
            str(self.decode_tokens + 1),
            "-no-cnv",
        ]
        if budget_s is not None:  # llama.cpp prints its timings so far on SIGINT: a cut run keeps its phases
            argv = ["timeout", "-s", "INT", f"{budget_s:.3f}", *argv]
        start, end, status, out, err, output = self._marked(device, argv)
        text = out + "\n" + err
        timings = parse_timings(text)
        cut = budget_s is not None and status == TIMED_OUT
        ttft = timings.ttft_s if timings.prompt_tokens else None  # None until the prompt is evaluated
        if not cut and (status != 0 or ttft is None):
            tail = "\n".join(text.strip().splitlines()[-4:])
            raise CollectorError(f"{device.name}: {self.binary} failed (status {status}): {tail}")
        load_end = end if timings.load_ms is None else program_start(start, output, timings) + timings.load_ms / 1e3
        load_end = min(load_end, end)
        phases = [(start, load_end, "load")]
        if ttft is None:
            phases += [(load_end, end, "prefill")] if end > load_end else []
        else:
            first_token = load_end + ttft
            decode_end = end if cut else first_token + (timings.eval_runs or 0) * (timings.tpot_s or 0.0)
            phases.append((load_end, first_token, "prefill"))
            if decode_end > first_token:
                phases.append((first_token, decode_end, "decode"))
        metrics = {
            "ttft_s": ttft if ttft is not None else float("nan"),
            "tpot_s": timings.tpot_s if timings.tpot_s is not None else float("nan"),
            "prompt_tokens": float(timings.prompt_tokens or 0),
            "decode_tokens": float((timings.eval_runs or 0) + 1 if ttft is not None else 0),
            "load_s": (timings.load_ms or 0.0) / 1e3,
            "cut": float(cut),
        }
        return RunResult(phases, metrics, text)


def program_start(start: float, output: float | None, timings) -> float:
    """When llama.cpp's own clock started (its times count from there), on the phone's clock. The start
    mark comes before it by the process's start-up (spawning it, setting up its runtime), which a loaded
    phone (or a served virtual one, at its speed) can stretch to a good part of a short prefill. llama.cpp
    echoes the prompt as it starts evaluating it, at the end of its load time: its stdout's first arrival less
    the load time bounds the start from the other side, by only a pipe's latency. The end mark is no bound
    worth having: the program frees its model and exits after its last token."""
    if output is None or timings.load_ms is None:
        return start
    return max(start, output - timings.load_ms / 1e3)
