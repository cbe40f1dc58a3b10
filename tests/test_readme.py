"""The README cannot drift: every command in its ```bash blocks is exercised.

- The two top commands: the first is `bash install.sh` (CI runs it through the second) and then the quick demo
  (the entry point tests/governor/test_demo.py runs); the second is exactly what `.ci/run` runs.
- Fast: every `fusegov ...` line parses with the real command-line parser, and every command line is either
  run below or named in COVERED_ELSEWHERE with the test that runs it.
- Slow: every other line runs, in README order, in bash in a scratch folder, as a user following the README
  would: `fusegov` is this checkout's entry point, `adb` Debian's against the test adb server, and the phone
  is `fusegov emulate` (started by the test where the README starts it in the background). What stands in
  for a user's own files: a plain CSV for `fit run.csv` (a synthetic trace written as a newcomer's CSV), and
  for a rooted phone's downloads small shell scripts named `llama-cli` and `onnxruntime_perf_test` that run
  the virtual phone's own, the built-in model description as the GGUF file, the zoo's ONNX graphs.
  SMALL shrinks arguments where the README's example is bigger than a test needs. A `fusegov` line that repeats
  an earlier one but for its `-o FILE` (the virtual phone is seeded: same plan) gets a copy of that file
  instead of a second identical run (the walkthrough's `plan ... -o phone-plan.json` repeats the governor
  section's `plan ... -o plan.json`: ~20 s of plan search).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED
from tests.helpers.adb import free_port, require_adb, start_emulator, stop_emulator

README = REPO / "README.md"
FIRST_COMMAND = "bash install.sh && .venv/bin/fusegov demo --quick"
SECOND_COMMAND = "bash tests/setup_and_test.sh"
LINE_TIMEOUT_S = 240

# Lines run by other tests (or CI): exact text or a regex, and what runs them.
COVERED_ELSEWHERE = {
    FIRST_COMMAND: "CI runs install.sh (tests/setup_and_test.sh); tests/governor/test_demo.py runs `fusegov demo --quick`",
    SECOND_COMMAND: "CI: .ci/run",
    "fusegov demo --quick": "tests/governor/test_demo.py",
    # 60 runs of llama.cpp through ADB in real time: the phone test runs the same two commands on a small budget
    r"fusegov plan --serial \S+ --llama-cli \S+ --model \S+ --goal latency --max-measurements \d+ -o plan.json": (
        "tests/governor/test_phone.py::test_plan_over_adb_then_deploy_pins_the_plans_setting"
    ),
    "fusegov deploy --serial 127.0.0.1:5555 plan.json": (
        "tests/governor/test_phone.py::test_plan_over_adb_then_deploy_pins_the_plans_setting"
    ),
    r"fusegov fit \S+xu3_a15_cbench.tsv --format armpm --cv logo -o out/logo.json": (
        "tests/powermodel/test_powermodel_fit_cli.py::test_leave_one_benchmark_out_reports_every_benchmark"
    ),
}
# (pattern, replacement, why): smaller arguments than the README's examples, for the test's time budget
SMALL = (
    (r"sharegpt:\d+", "sharegpt:3", "a few replayed requests show the same table"),
    (
        r"^(fusegov emulate --profile \S+ --port \d+)",
        r"\1 --speed 10",
        "the served phone's clock 10x real time: the same adb traffic, the phone-side waits (a sweep's runs) shorter",
    ),
)


@dataclass(frozen=True)
class Command:
    block: int  # index of the ```bash block in the README
    line: int  # README line number
    text: str  # the command, backslash continuations joined


def readme_commands(text: str | None = None) -> list[Command]:
    """Every command line of the README's ```bash blocks (full-line comments dropped)."""
    text = README.read_text() if text is None else text
    commands, block, inside, pending, start = [], -1, False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = line.strip()
        if fence.startswith("```"):
            inside = fence == "```bash" and not inside
            block += fence == "```bash"
            continue
        if not inside:
            continue
        if not pending:
            start = number
        stripped = line.strip()
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        joined = (pending + stripped).strip()
        pending = ""
        if joined and not joined.startswith("#"):
            commands.append(Command(block, start, joined))
    return commands


def covered_elsewhere(command: Command) -> str | None:
    said = " ".join(words(command.text))
    for pattern, by in COVERED_ELSEWHERE.items():
        if command.text == pattern or re.fullmatch(pattern, said):
            return by
    return None


def words(text: str) -> list[str]:
    """The command's words as the shell splits them, a trailing `# comment` dropped ($VARS kept as written)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def fusegov_argv(text: str) -> list[str] | None:
    """The arguments of a `fusegov ...` command line, or None for other commands."""
    argv = words(text)
    while argv and argv[-1] == "&":
        argv.pop()
    if not argv or Path(argv[0]).name != "fusegov":
        return None
    return argv[1:]


# --- fast --------------------------------------------------------------------------------------------------
def test_top_two_commands_are_the_demo_and_ci():
    commands = readme_commands()
    assert [c.text for c in commands[:2]] == [FIRST_COMMAND, SECOND_COMMAND]
    assert commands[0].block == 0 and commands[1].block == 1
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert [line for line in ci if line and not line.startswith(("#", "set ", "cd "))] == [SECOND_COMMAND]
    assert "bash install.sh --test" in (REPO / "tests" / "setup_and_test.sh").read_text()


def test_every_fusegov_line_parses():
    from governor.cli import build_parser

    parser = build_parser()
    lines = [(c, argv) for c in readme_commands() if (argv := fusegov_argv(c.text)) is not None]
    assert len(lines) >= 30
    for command, argv in lines:
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README line {command.line}: `{command.text}` does not parse")
        assert getattr(args, "func", None), f"README line {command.line}: `{command.text}` names no command"


def test_covered_elsewhere_names_real_tests():
    for by in COVERED_ELSEWHERE.values():
        for test in re.findall(r"tests/\S+\.py(?:::\w+)?", by):
            path, _, name = test.partition("::")
            assert (REPO / path).exists(), f"{path} is gone"
            assert not name or f"def {name}(" in (REPO / path).read_text(), f"{test} is gone"
    texts = [" ".join(words(c.text)) for c in readme_commands()]
    for pattern in COVERED_ELSEWHERE:
        assert any(t == pattern or re.fullmatch(pattern, t) for t in texts), f"{pattern!r} is no longer in the README"


# --- slow: run them --------------------------------------------------------------------------------------
class Scratch:
    """The folder, environment and phones a README reader has."""

    def __init__(self, folder: Path, adb_server):
        self.folder, self.server = folder, adb_server
        self.env = dict(adb_server.env)
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), self.env.get("PATH", "")])
        self.ports: dict[str, int] = {}  # README port -> the free port used instead
        self.emulators: list = []
        self.serial = ""  # of the phone started last: what `export SERIAL=...` means here
        self.written: dict[tuple[str, ...], str] = {}  # fusegov command but for its `-o FILE` -> FILE it wrote
        self.reused: list[int] = []  # README lines that repeat an earlier command but for its -o

    def substitute(self, text: str) -> str:
        for pattern, replacement, _ in SMALL:
            text = re.sub(pattern, replacement, text)
        text = text.replace("../shared/", f"{SHARED}/")
        for port in re.findall(r"(?:127\.0\.0\.1:|--port )(\d{4,5})", text):
            self.ports.setdefault(port, free_port())
        for port, used in self.ports.items():
            text = re.sub(rf"\b{port}\b", str(used), text)
        return text

    def run(self, command: Command) -> str | None:
        """None when the line worked, else what went wrong."""
        text = self.substitute(command.text)
        argv = fusegov_argv(text)
        if argv and argv[0] == "emulate" and words(text)[-1] == "&":
            return self._emulate(argv)
        if re.match(r"export SERIAL=", text):
            self.env["SERIAL"] = self.serial
            return None
        if argv and "$" not in text and (same := _without_output(argv)) and same[0] in self.written:
            # the same fusegov command (seeded: same result) ran above but for its -o: copy the file it wrote
            shutil.copy(self.folder / self.written[same[0]], self.folder / same[1])
            self.reused.append(command.line)
            return None
        try:
            out = subprocess.run(
                ["bash", "-c", text],
                cwd=self.folder,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=LINE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return f"timed out after {LINE_TIMEOUT_S} s"
        if out.returncode != 0:
            return f"exit {out.returncode}: {(out.stderr or out.stdout)[-1500:]}"
        if argv and (same := _without_output(argv)) and (self.folder / same[1]).is_file():
            self.written.setdefault(*same)
        return None

    def _emulate(self, argv: list[str]) -> str | None:
        """`fusegov emulate --profile P --port N [options] &`: started here, stopped at the end (the README's next
        line connects adb to it)."""
        options = argv[1:]
        profile = options[options.index("--profile") + 1]
        port = int(options[options.index("--port") + 1])
        rest = [
            o
            for i, o in enumerate(options)
            if o not in ("--profile", "--port") and options[i - 1] not in ("--profile", "--port")
        ]
        emulator = start_emulator(self.server, profile, *rest, connect=False, port=port)
        self.emulators.append(emulator)
        self.serial = emulator.serial
        return None

    def close(self) -> None:
        for emulator in self.emulators:
            stop_emulator(emulator)


def _without_output(argv: list[str]) -> tuple[tuple[str, ...], str] | None:
    """(the command's arguments without `-o FILE`, FILE) for a command that writes one file, else None."""
    if argv.count("-o") != 1 or argv.index("-o") + 1 >= len(argv):
        return None
    at = argv.index("-o")
    return tuple(argv[:at] + argv[at + 2 :]), argv[at + 1]


def write_stand_ins(folder: Path) -> None:
    """A user's files, as README examples name them."""
    from android.emulator.sim import cnn_zoo
    from android.emulator.sim.llm_models import MODELS_DIR
    from powermodel.synthetic import synthetic_trace
    from tests.powermodel.conftest import plain_csv_frame

    frame, meta = synthetic_trace(n_samples=1500, n_counters=12, n_workloads=8, seed=2)
    plain_csv_frame(frame, meta["period_s"]).to_csv(folder / "run.csv", index=False)
    for program in ("llama-cli", "onnxruntime_perf_test"):  # the phone's own, in place of static ARM builds
        script = folder / program
        script.write_text(f'#!/system/bin/sh\n{program} "$@"\n')
        script.chmod(0o755)
    shutil.copy(Path(MODELS_DIR) / "tinyllama-1.1b-q4.json", folder / "tinyllama-1.1b-chat-v1.0.Q4_0.gguf")
    for network in ("mobilenetv2", "resnet18", "squeezenet1.1"):
        shutil.copy(cnn_zoo.resolve_onnx(network), folder / f"{network}.onnx")
    (folder / "android").symlink_to(REPO / "android")  # README paths relative to the checkout


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_readme_commands_run(tmp_path, adb_server):
    require_adb()
    if not SHARED.is_dir():
        pytest.skip(f"the README's fit examples read {SHARED} (absent here)")
    write_stand_ins(tmp_path)
    scratch = Scratch(tmp_path, adb_server)
    failures, timings = [], []
    try:
        for command in readme_commands():
            if covered_elsewhere(command):
                continue
            start = time.perf_counter()
            problem = scratch.run(command)
            timings.append((time.perf_counter() - start, command.line))
            if problem:
                failures.append(f"README line {command.line}: `{command.text}`\n    {problem}")
    finally:
        scratch.close()
    slowest = ", ".join(f"line {line} {s:.1f} s" for s, line in sorted(timings, reverse=True)[:5])
    copied = f" (lines {scratch.reused} by copying an earlier identical run's file)" if scratch.reused else ""
    print(f"{len(timings)} README commands ran{copied}; slowest: {slowest}")
    assert not failures, "\n".join(failures)
