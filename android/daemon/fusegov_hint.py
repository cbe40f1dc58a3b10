#!/usr/bin/env python3
"""fusegov_hint: phase hints for fusegovd from llama.cpp without changing llama.cpp. Standard library only
(Python >= 3.8), runs on the phone.

    fusegov_hint.py [--dir WORKDIR] [--n-prompt N] [--model NAME] -- llama-cli ARGS...
        runs llama.cpp's CLI unchanged (its output passes through) and sends `prefill N` before it starts,
        `decode` at the first generated token and `idle` when it exits (also when it fails or is killed);
        while it runs, the current hint is repeated every --keepalive seconds so the daemon's watchdog knows
        the run is alive; --log FILE appends each phase change with its CLOCK_MONOTONIC time.
    fusegov_hint.py [--dir WORKDIR] send PHASE [N] [--model NAME]
        sends one hint (what `fusegov hint` runs).

The prompt length N is --n-prompt when given, else counted by `llama-tokenize` found beside the CLI (same
-m and prompt), else estimated from the prompt's length (about 4 bytes per token). The first generated
token is the first output byte after llama.cpp's echo of the prompt (or the first byte at all with
--no-display-prompt).

Hint protocol (for apps that send hints themselves): write one line per hint, in one write(), to the FIFO
WORKDIR/hints opened with O_WRONLY|O_NONBLOCK (ENXIO means no daemon is running):
`prefill N [model=NAME]`, `decode [model=NAME]`, `cnn [model=NAME]`, `idle`.
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import time

DEFAULT_DIR = "/data/local/tmp/fusegov"
FIFO_FILE = "hints"
BYTES_PER_TOKEN_ESTIMATE = 4
PROMPT_FLAGS = ("-p", "--prompt")
FILE_FLAGS = ("-f", "--file")
MODEL_FLAGS = ("-m", "--model")


class NoDaemon(Exception):
    pass


def send(workdir, line):
    """Write one hint line to the daemon's FIFO without ever blocking; NoDaemon when nobody listens."""
    data = (line.strip() + "\n").encode()
    if len(data) > 256:
        raise ValueError("hint longer than 256 bytes")
    path = os.path.join(workdir, FIFO_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            raise NoDaemon(f"no fusegovd listening on {path}") from None
        raise
    try:
        os.write(fd, data)
    except OSError as exc:
        if exc.errno == errno.EAGAIN:
            raise NoDaemon(f"fusegovd does not read {path} (its queue is full)") from None
        raise
    finally:
        os.close(fd)


def hint_line(phase, tokens=None, model=None):
    words = [phase] + ([str(tokens)] if phase == "prefill" else []) + (["model=" + model] if model else [])
    return " ".join(words)


class Hinter:
    """Sends hints for one run; a missing daemon is reported once and the run goes on unhinted. With a
    log file, each phase change is appended as `CLOCK_MONOTONIC-seconds hint` (for aligning traces, also
    when no daemon runs, e.g. a stock-governor baseline)."""

    def __init__(self, workdir, model, quiet=False, log=None):
        self.workdir, self.model, self.quiet, self.log = workdir, model, quiet, log
        self.current = None
        self.warned = False

    def __call__(self, phase, tokens=None):
        self.current = (phase, tokens)
        self.resend()
        if self.log:
            with open(self.log, "a") as handle:
                handle.write(
                    f"{time.monotonic():.6f} {hint_line(phase, tokens, None if phase == 'idle' else self.model)}\n"
                )

    def resend(self):
        if self.current is None:
            return
        phase, tokens = self.current
        try:
            send(self.workdir, hint_line(phase, tokens, None if phase == "idle" else self.model))
        except (NoDaemon, OSError) as exc:
            if not self.warned and not self.quiet:
                sys.stderr.write(f"fusegov_hint: {exc}; running without hints\n")
            self.warned = True


def option_value(argv, flags):
    """The value of the last of `flags` in a llama.cpp command line (`-p TEXT` or `--prompt=TEXT`)."""
    value = None
    for k, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and k + 1 < len(argv):
                value = argv[k + 1]
            elif flag.startswith("--") and arg.startswith(flag + "="):
                value = arg[len(flag) + 1 :]
    return value


def prompt_text(argv):
    text = option_value(argv, PROMPT_FLAGS)
    path = option_value(argv, FILE_FLAGS)
    if path is not None:
        with open(path, errors="replace") as handle:
            text = handle.read()
    return text


def count_tokens(argv, text):
    """(N, how): llama-tokenize beside the CLI when there is one, else an estimate from the length."""
    cli = argv[0]
    tokenizer = os.path.join(os.path.dirname(cli), "llama-tokenize") if os.path.dirname(cli) else None
    tokenizer = tokenizer if tokenizer and os.access(tokenizer, os.X_OK) else shutil.which("llama-tokenize")
    model = option_value(argv, MODEL_FLAGS)
    if tokenizer and model:
        result = subprocess.run(
            [tokenizer, "-m", model, "-p", text, "--show-count", "--log-disable"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for line in reversed(result.stdout.splitlines()):
            if line.startswith("Total number of tokens:"):
                return int(line.split(":")[1]), "counted by " + tokenizer
    return max(1, len(text.encode()) // BYTES_PER_TOKEN_ESTIMATE), "estimated from the prompt's length"


class FirstToken:
    """Finds the first generated byte in llama.cpp's output: the prompt's echo (printed before prefill,
    unless --no-display-prompt) is skipped, whitespace-insensitively, since detokenising may add a
    leading space or change spacing."""

    def __init__(self, prompt, echoed):
        self.want = "".join(prompt.split()) if (prompt and echoed) else ""
        self.seen = 0

    def feed(self, chunk):
        """True when `chunk` holds the first generated byte."""
        for char in chunk.decode(errors="replace"):
            if char.isspace():
                continue
            if self.seen < len(self.want) and char == self.want[self.seen]:
                self.seen += 1
                continue
            if self.seen < len(self.want):
                self.want = ""  # the echo differs from the prompt: treat this output as generated
            return True
        return False


def run_cli(args):
    argv = args.command
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.stderr.write("fusegov_hint: give llama.cpp's command line after --\n")
        return 2
    text = prompt_text(argv)
    if args.n_prompt is not None:
        tokens, how = args.n_prompt, "given"
    elif text:
        tokens, how = count_tokens(argv, text)
    else:
        tokens, how = 1, "unknown (no -p/-f prompt)"
    if not args.quiet:
        sys.stderr.write(f"fusegov_hint: prompt {tokens} tokens ({how})\n")
    hint = Hinter(args.dir, args.model, args.quiet, args.log)
    detector = FirstToken(text, "--no-display-prompt" not in argv)
    stopping = []

    def forward(signum, frame):
        stopping.append(signum)
        if child is not None:
            child.send_signal(signum)

    child = None
    previous = dict((s, signal.signal(s, forward)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    hint("prefill", tokens)
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE)
        out = child.stdout.fileno()
        decoding = False
        next_keepalive = time.monotonic() + args.keepalive
        while True:
            wait = max(0.0, next_keepalive - time.monotonic())
            try:
                ready = select.select([out], [], [], wait)[0]
            except InterruptedError:
                continue
            if not ready:
                hint.resend()
                next_keepalive = time.monotonic() + args.keepalive
                continue
            chunk = os.read(out, 65536)
            if not chunk:
                break
            if not decoding and detector.feed(chunk):
                decoding = True
                hint("decode")
                next_keepalive = time.monotonic() + args.keepalive
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        status = child.wait()
    except OSError as exc:
        sys.stderr.write(f"fusegov_hint: cannot run {argv[0]}: {exc.strerror or exc}\n")
        status = 127
    finally:
        hint("idle")
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def send_cli(args):
    tokens = args.tokens
    if args.phase == "prefill" and (tokens is None or tokens < 1):
        sys.stderr.write("fusegov_hint: prefill needs the prompt length N >= 1\n")
        return 2
    if args.phase != "prefill" and tokens is not None:
        sys.stderr.write("fusegov_hint: only prefill takes a token count\n")
        return 2
    try:
        send(args.dir, hint_line(args.phase, tokens, args.model))
    except (NoDaemon, OSError, ValueError) as exc:
        sys.stderr.write(f"fusegov_hint: {exc}\n")
        return 1
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="fusegov_hint.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=DEFAULT_DIR, help="fusegovd's working directory (default %(default)s)")
    parser.add_argument("--model", help="the plan's model name to send with the hints (default: the daemon's default)")
    if argv[:1] == ["send"]:
        parser.add_argument("action")
        parser.add_argument("phase", choices=("prefill", "decode", "cnn", "idle"))
        parser.add_argument("tokens", nargs="?", type=int)
        return send_cli(parser.parse_args(argv))
    parser.add_argument("--n-prompt", type=int, help="prompt length in tokens (default: counted or estimated)")
    parser.add_argument("--keepalive", type=float, default=5.0, help="repeat the current hint every S s (default 5)")
    parser.add_argument("--quiet", action="store_true", help="print nothing of our own")
    parser.add_argument("--log", metavar="FILE", help="append each phase change with its CLOCK_MONOTONIC time")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- llama-cli ARGS...")
    args = parser.parse_args(argv)
    if args.n_prompt is not None and args.n_prompt < 1:
        parser.error("--n-prompt must be >= 1")
    if not args.keepalive > 0:
        parser.error("--keepalive must be positive")
    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
