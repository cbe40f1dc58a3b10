"""Property-based fuzzing of what a user can give fusegov: the arguments of `probe`, `run` and `emulate`,
profile files, and sysfs trees for `probe --root`. Every input must end in success or a clean error
(`fusegov CMD: error: ...`, exit 1, or argparse's usage error, exit 2) and never in a traceback or a hang.

Runs in-process through governor.cli.main, so an example costs milliseconds; derandomized with bounded
example counts, so CI sees the same inputs every time (run with --hypothesis-show-statistics for counts).
`emulate` stops as soon as it serves (its wait loop is replaced), so a valid set of options costs one start."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import string
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from android.emulator import cli as emulate_cli
from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR
from android.emulator.vfs import Attr, Dir, Symlink
from governor.cli import main

pytestmark = pytest.mark.slow  # about half a minute in all; CI runs it with the rest of the suite
HANG_S = 60  # an example slower than this is a hang
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASE_PROFILE = json.loads((BUILTIN_DIR / "pixel7.json").read_text())


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    def expired(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(argv: list[str]) -> tuple[int, str, str]:
    """Run `fusegov ARGV` in-process; an exception escaping main (a traceback) fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(HANG_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


OUTCOMES: dict[str, dict[int, int]] = {}  # target -> exit code -> examples


def check_clean(argv: list[str]) -> int:
    code, _, err = invoke(argv)
    counts = OUTCOMES.setdefault(argv[0] if argv else "", {})
    counts[code] = counts.get(code, 0) + 1
    if os.environ.get("FUZZ_TRACE"):
        print("FUZZ", code, argv[:16], err.strip().splitlines()[-1:] if code else "", file=sys.__stdout__)
    assert code in (0, 1, 2), f"{argv}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{argv}:\n{err}"
    if code == 1:
        assert f"fusegov {argv[0]}: error:" in err, f"{argv}: exit 1 without a clear error:\n{err}"
    if code == 2:  # argparse names the subcommand, or only `fusegov` for words no subcommand takes
        assert re.search(r"^fusegov[^\n]*: error: ", err, re.MULTILINE), f"{argv}:\n{err}"
    return code


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Paths the strategies pick from: good and bad profiles, output paths, an adb key, a closed port."""
    base = tmp_path_factory.mktemp("fuzz")
    (base / "profile.json").write_text(json.dumps(BASE_PROFILE))
    (base / "broken.json").write_text('{"format": "fusegov.profile", "version": 1, "cpu": {')
    (base / "list.json").write_text("[1, 2]")
    (base / "binary.json").write_bytes(os.urandom(256))
    (base / "dir.json").mkdir()
    (base / "t.png").write_bytes(b"")  # a file where --plot would need a directory
    (base / "garbage.pub").write_text("AAAA not a key\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens once the socket is closed
    home = base / "home"
    home.mkdir()
    previous_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)  # no ~/.android/adbkey.pub: --host 0.0.0.0 must ask for --auth
    yield {"base": base, "closed_port": str(closed_port)}
    if previous_home is not None:
        os.environ["HOME"] = previous_home


WILD = st.one_of(
    st.integers().map(str),
    st.sampled_from(["", "-1", "0", "1e3", "0x10", "nan", "inf", "-0", "1.5", "9" * 400, "٣", " 7 ", "--json", "-h"]),
    st.text(string.printable, max_size=12),
)


@st.composite
def mutated(draw, valid: list[str], wild: st.SearchStrategy[str] = WILD) -> list[str]:
    """A valid command line with 0 to 2 mutations: a word replaced by a wild value, a word dropped, a
    wild word inserted. Most examples then get past argparse into the command's own checks."""
    argv = list(valid)
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        if len(argv) < 2:
            break
        where = draw(st.integers(1, len(argv) - 1))
        how = draw(st.sampled_from(["replace", "replace", "drop", "insert"]))
        if how == "replace":
            argv[where] = draw(wild)
        elif how == "drop":
            del argv[where]
        else:
            argv.insert(where, draw(wild))
    return argv


def profiles(places) -> st.SearchStrategy[str]:
    base = places["base"]
    return st.sampled_from(
        [
            "pixel7",
            "sm8550",
            "pixel4",
            str(base / "profile.json"),
            "pixel9",
            "",
            "../etc/passwd",
            "/nonexistent/p.json",
            "x" * 5000,
            str(base / "broken.json"),
            str(base / "list.json"),
            str(base / "binary.json"),
            str(base / "dir.json"),
            str(base),
            "/dev/null",
        ]
    )


GOOD_PROFILES = st.sampled_from(["pixel7", "sm8550", "pixel4"])
FREQS = st.one_of(
    st.sampled_from(["848MHz", "151MHz", "2850MHz", "1803MHz", "3172MHz", "848000kHz", "0.848GHz", "848000000"]),
    st.sampled_from(["719MHz", "124.8MHz", "3196.8MHz", "300MHz", "2348MHz", "585MHz", "1401.6MHz", "2016MHz"]),
    st.sampled_from(["848", "0", "848Mhz", "848 MHz", "1e9", "-5MHz", "9" * 400 + "GHz", "848THz", "MHz", "", "nan"]),
    st.integers(min_value=0).map(str),
)
KNOBS = st.sampled_from(["gpu", "policy0", "policy4", "policy6", "policy3", "policy7", "mem", "npu", "", "=gpu"])
PINS = st.lists(st.tuples(KNOBS, FREQS).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4).map(",".join)


@given(data=st.data())
@settings(FUZZ, max_examples=80)
def test_fuzz_probe_arguments(places, data):
    device = data.draw(
        st.one_of(
            profiles(places).map(lambda p: ["--virtual", p]),
            st.sampled_from(["/nonexistent", "/etc/passwd", str(places["base"]), "", "/"]).map(lambda p: ["--root", p]),
            st.text(string.printable, max_size=20).map(lambda s: ["--serial", s, "--adb-port", places["closed_port"]]),
        )
    )
    seed = data.draw(st.integers(0, 5).map(str))
    valid = ["probe", *device, "--seed", seed, *data.draw(st.sampled_from([[], ["--json"]]))]
    check_clean(data.draw(mutated(valid)))


GOOD_WORKLOADS = st.sampled_from(["llm:tinyllama-1.1b-q4", "llm:qwen-1.5b-q4", "cnn:mobilenetv2", "cnn:squeezenet1.1"])
BAD_WORKLOADS = st.sampled_from(
    ["llm:", "cnn:", "llm:gpt5", "cnn:/nonexistent.onnx", "cnn:/etc/passwd", "gpu:x", "llm", "", "llm:/dev/null"]
)


@given(data=st.data())
@settings(FUZZ, max_examples=150)
def test_fuzz_run_arguments(places, data):
    base = places["base"]
    plots = st.sampled_from(
        [str(base / "t.txt"), "/proc/t.png", "/proc/no/t.png", str(base / "t.png/x.png"), str(base), ".png"]
    )
    valid = ["run", "--virtual", data.draw(GOOD_PROFILES), "--workload", data.draw(GOOD_WORKLOADS)]
    valid += ["--prompt", str(data.draw(st.integers(1, 24))), "--decode", str(data.draw(st.integers(0, 12)))]
    valid += ["--runs", str(data.draw(st.integers(1, 3))), "--seed", str(data.draw(st.integers(0, 5)))]
    valid += data.draw(st.one_of(st.just([]), PINS.map(lambda p: ["--pin", p])))
    valid += data.draw(st.one_of(st.just([]), st.just(["--json"]), plots.map(lambda p: ["--plot", p])))
    check_clean(data.draw(mutated(valid, st.one_of(WILD, BAD_WORKLOADS, PINS, profiles(places)))))


@pytest.fixture(scope="module")
def key_file(places):
    from adb_shell.auth.keygen import keygen

    keygen(str(places["base"] / "adbkey"))
    return str(places["base"] / "adbkey.pub")


@pytest.fixture(scope="module")
def monkeypatch_module():
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


EMULATE_VARIANTS = {
    "plain": lambda key, base: [],
    "no-su": lambda key, base: ["--no-su"],
    "auth": lambda key, base: ["--auth", key],
    "unauthorized": lambda key, base: ["--unauthorized"],
    "ipv6": lambda key, base: ["--host", "::1"],
    "all-interfaces-without-key": lambda key, base: ["--host", "0.0.0.0"],
    "garbage-key": lambda key, base: ["--auth", str(base / "garbage.pub")],
    "missing-key": lambda key, base: ["--auth", "/nonexistent.pub"],
    "contradiction": lambda key, base: ["--unauthorized", "--auth", key],
}


@pytest.mark.parametrize("variant", list(EMULATE_VARIANTS))
@given(data=st.data())
@settings(FUZZ, max_examples=8)
def test_fuzz_emulate_arguments(places, key_file, data, monkeypatch_module, variant):
    monkeypatch_module.setattr(emulate_cli, "wait_for_stop", lambda stop: None)  # served: stop at once
    base = places["base"]
    valid = [
        "emulate",
        "--profile",
        data.draw(GOOD_PROFILES),
        "--port",
        "0",
        "--seed",
        str(data.draw(st.integers(0, 9))),
    ]
    valid += ["--speed", str(data.draw(st.sampled_from([0.01, 0.5, 1, 10, 100])))]
    valid += ["--storage", data.draw(st.sampled_from(["256MiB", "1GiB", "4MiB", "1048576"]))]
    valid += [
        "--max-connections",
        str(data.draw(st.integers(1, 64))),
        "--max-streams",
        str(data.draw(st.integers(1, 64))),
    ]
    valid += ["--script-memory", data.draw(st.sampled_from(["1GiB", "64MiB", "512MiB"]))]
    valid += ["--max-scripts", str(data.draw(st.integers(1, 16)))]
    valid += EMULATE_VARIANTS[variant](key_file, base)
    wild = st.one_of(
        WILD,
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["0.0.0.0", "256.1.1.1", "example.com", "-1MiB", "65GiB", "12XB", "2TiB", "63MiB"]),
        st.sampled_from([str(base / "garbage.pub"), "/nonexistent.pub", str(base), "/dev/null", "--auth", "--host"]),
        profiles(places),
    )
    check_clean(data.draw(mutated(valid, wild)))


def _json_values() -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
        max_leaves=8,
    )


def _paths(node, prefix=()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PROFILE_PATHS = _paths(BASE_PROFILE)[1:]


@given(
    path=st.sampled_from(PROFILE_PATHS),
    action=st.sampled_from(["replace", "delete", "add"]),
    value=_json_values(),
)
@settings(FUZZ, max_examples=120)
def test_fuzz_profile_files(places, path, action, value):
    raw = json.loads(json.dumps(BASE_PROFILE))
    node = raw
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if action == "replace":
        node[last] = value
    elif action == "delete":
        del node[last]
    elif isinstance(node, dict):
        node[f"extra_{last}"] = value
    else:
        node.append(value)
    file = places["base"] / "mutated.json"
    file.write_text(json.dumps(raw, allow_nan=True))
    check_clean(["probe", "--virtual", str(file)])


@pytest.fixture(scope="module")
def sysfs_tree(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The virtual Pixel 7's /sys and /system as files on disk, for `probe --root`."""
    root = tmp_path_factory.mktemp("root")
    files: list[Path] = []

    def walk(node: Dir, path: str) -> None:
        for name, child in node.children.items():
            target = root / f"{path}/{name}".lstrip("/")
            if isinstance(child, Dir):
                target.mkdir(parents=True, exist_ok=True)
                walk(child, f"{path}/{name}")
            elif isinstance(child, Symlink):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(child.target if not child.target.startswith("/") else f"{root}{child.target}")
            elif path.startswith(("/sys", "/system")):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(child.show().encode() if isinstance(child, Attr) else child.data)
                files.append(target)

    walk(VirtualPhone("pixel7").fs.root, "")
    yield root, sorted(files)
    shutil.rmtree(root, ignore_errors=True)


@given(data=st.data())
@settings(FUZZ, max_examples=60)
def test_fuzz_sysfs_trees(sysfs_tree, data):
    root, files = sysfs_tree
    victims = data.draw(st.lists(st.sampled_from(files), min_size=1, max_size=3, unique=True))
    saved = {f: f.read_bytes() for f in victims}
    try:
        for victim in victims:
            victim.write_bytes(
                data.draw(
                    st.one_of(
                        st.binary(max_size=40),
                        st.text(string.printable, max_size=40).map(str.encode),
                        st.sampled_from([b"", b"-1\n", b"9" * 50 + b"\n", b"1 2 3\n", b"nan\n", b"\xff\n"]),
                    )
                )
            )
        check_clean(["probe", "--root", str(root), *data.draw(st.sampled_from([[], ["--json"]]))])
    finally:
        for victim, content in saved.items():
            victim.write_bytes(content)


def test_zz_fuzz_reached_both_successes_and_errors():
    """Runs after the fuzz tests above (file order): each target got past validation sometimes and was
    refused sometimes, so the examples exercised the commands and not only argparse."""
    if not OUTCOMES:
        pytest.skip("no fuzz target ran in this session")
    print("\nfuzz outcomes (exit code: examples):", json.dumps(OUTCOMES, sort_keys=True))
    for target, counts in OUTCOMES.items():
        assert counts.get(0) and counts.get(1), f"{target}: {counts}"
