"""LLM inference through llama.cpp's command-line tool on the phone, phases from its timing summary."""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from collectors.errors import CollectorError
from collectors.runners import Runner, RunResult
from collectors.runners.timings import parse_timings

DEFAULT_BIN = "llama-cli"
MODEL_DIR = "/data/local/tmp/fusegov/models"
PROMPT_DIR = "/data/local/tmp/fusegov/prompts"
_PUSHED: set[tuple[str, str]] = set()


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

    def _prompt_file(self, device) -> str:
        """A prompt of `prompt_tokens` tokens ("the" is one token after BOS in LLaMA-family vocabularies),
        pushed once per length and passed with -f."""
        path = f"{PROMPT_DIR}/prompt-{self.prompt_tokens}.txt"
        key = (device.name, path)
        if key not in _PUSHED:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "prompt.txt"
                local.write_text(" ".join(["the"] * (self.prompt_tokens - 1)))
                device.shell(f"mkdir -p {PROMPT_DIR}")
                device.push(local, path)
            _PUSHED.add(key)
        return path

    def run(self, device) -> RunResult:
        prompt = self._prompt_file(device)
        argv = [self.binary, "-m", self.model_path, "-f", prompt, "-n", str(self.decode_tokens + 1), "-no-cnv"]
        start, end, status, out, err = self._marked(device, argv)
        text = out + "\n" + err
        timings = parse_timings(text)
        if status != 0 or timings.ttft_s is None:
            tail = "\n".join(text.strip().splitlines()[-4:])
            raise CollectorError(f"{device.name}: {self.binary} failed (status {status}): {tail}")
        prefill_start = start + (timings.load_ms or 0.0) / 1e3
        first_token = prefill_start + timings.ttft_s
        decode_end = first_token + (timings.eval_runs or 0) * (timings.tpot_s or 0.0)
        phases = [(start, prefill_start, "load"), (prefill_start, first_token, "prefill")]
        if decode_end > first_token:
            phases.append((first_token, min(decode_end, max(end, decode_end)), "decode"))
        metrics = {
            "ttft_s": timings.ttft_s,
            "tpot_s": timings.tpot_s if timings.tpot_s is not None else float("nan"),
            "prompt_tokens": float(timings.prompt_tokens or 0),
            "decode_tokens": float((timings.eval_runs or 0) + 1),
            "load_s": (timings.load_ms or 0.0) / 1e3,
        }
        return RunResult(phases, metrics, text)
