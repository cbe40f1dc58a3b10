"""One error hierarchy: each package raises its own class under FusegovError (a power-model problem is no
TraceError, an option a user got wrong no bare FusegovError), and the CLI turns every one of them into
`fusegov CMD: error: ...` with exit status 1."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from android.daemon.errors import DaemonError
from android.errors import (
    DeviceError,
    FusegovError,
    ProbeError,
    ProfileError,
    TraceError,
    UsageError,
    WorkloadError,
)
from collectors.errors import CollectorError
from governor.cli import build_parser, main
from governor.errors import GovernorError
from powermodel.errors import PowerModelError
from tests.conftest import REPO

PACKAGES = ("android", "collectors", "powermodel", "governor")
PACKAGE_ERRORS = (
    DeviceError,
    ProfileError,
    ProbeError,
    WorkloadError,
    TraceError,
    UsageError,
    CollectorError,
    PowerModelError,
    GovernorError,
    DaemonError,
)
# where a TraceError belongs: reading and checking trace or input-table files and their values
TRACE_ERROR_MODULES = {"collectors/trace.py", "powermodel/ingest.py", "powermodel/features.py"}


def sources():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), path.read_text()


def test_no_package_raises_the_bare_base_class():
    bare = [
        f"{name}:{text[: m.start()].count(chr(10)) + 1}"
        for name, text in sources()
        for m in re.finditer(r"raise FusegovError\(", text)
    ]
    assert not bare, f"raise the package's own error class (UsageError for a user's option) at {', '.join(bare)}"


def test_trace_errors_are_about_traces():
    raising = {name for name, text in sources() if re.search(r"raise TraceError\(", text)}
    assert raising <= TRACE_ERROR_MODULES, (
        f"TraceError raised for other problems in {sorted(raising - TRACE_ERROR_MODULES)}"
    )


def test_package_errors_are_fusegov_errors_and_not_each_other():
    for cls in PACKAGE_ERRORS:
        assert issubclass(cls, FusegovError)
    for cls in (CollectorError, PowerModelError, GovernorError, DaemonError, UsageError):
        assert not any(issubclass(cls, other) for other in PACKAGE_ERRORS if other is not cls), cls


@pytest.mark.parametrize(
    ("argv", "error", "message"),
    [
        (["probe", "--virtual", "pixel99"], ProfileError, "unknown profile 'pixel99'"),
        (
            ["run", "--virtual", "pixel7", "--workload", "llm:tinyllama-1.1b-q4", "--pin", "gpu=848"],
            UsageError,
            "bad pin",
        ),
        (["collect", "--virtual", "pixel7", "-o", "{tmp}/x.parquet"], CollectorError, "give at least one --workload"),
        (
            ["fit", "{tmp}/a.csv", "--cv", "logo", "--split", "{tmp}/s.tsv", "-o", "{tmp}/m.json"],
            PowerModelError,
            "--cv and --split",
        ),
        (["fit", "{tmp}/missing.csv", "-o", "{tmp}/m.json"], TraceError, "no such file"),
        (
            ["plan", "--virtual", "pixel7", "--model", "tinyllama-1.1b-q4", "--search", "nope", "-o", "{tmp}/p.json"],
            GovernorError,
            "unknown --search 'nope'",
        ),
        (["hint", "--serial", "nowhere:1", "prefill"], DaemonError, "prefill needs the prompt length"),
        (["deploy", "--serial", "nowhere:1", "{tmp}/missing.json"], GovernorError, "no such file"),  # a plan's
        (["demo", "--out", "{tmp}/file"], GovernorError, "is a file"),
    ],
)
def test_cli_prints_each_package_error_and_exits_1(tmp_path, argv, error, message):
    (tmp_path / "file").write_text("")
    argv = [a.format(tmp=tmp_path) for a in argv]
    args = build_parser().parse_args(argv)
    with pytest.raises(error, match=re.escape(message)):
        args.func(args)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    assert code == 1
    assert err.getvalue().startswith(f"fusegov {argv[0]}: error: ") and message in err.getvalue()
    assert "Traceback" not in err.getvalue()
