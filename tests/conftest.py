"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent; the ADB fixtures start
Debian's adb server and `fusegov emulate` once per session (tests/helpers/adb.py), and stop each REGISTRY
phone after the last test that uses the fixture that started it (at that test's module end): an idle served
phone still ticks its simulation in real time (~7% of a core each, ~12% at --speed 20), which the rest of the
suite would pay for on a 2-core CI machine.

tests/setup_and_test.sh runs the suite in one pytest-xdist worker per core, a module at a time, with every module
that talks to an adb server on one worker (`pytest_xdist_make_scheduler`): their real-time measurements (phones
served at wall-clock pace, samplers at 10-20 ms) read low or short when two of them share the cores, as they did
when the modules were spread over both workers (README collection too short to fit, end-to-end energy +0.2%)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.helpers.adb import REGISTRY, AdbServer, Emulator

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


ADB_MARKS = ("adb_server", "tests.helpers.adb", "tests.daemon.conftest")  # what a module using the adb server names


@functools.cache
def _talks_to_adb(module: str) -> bool:
    path = REPO / module
    return path.is_file() and any(mark in path.read_text() for mark in ADB_MARKS)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's loadfile scheduler with one unit for every module that uses the adb server (module docstring).
    (Its xdist_group marks would say the same per test, but xdist 3.8 cannot group under pytest 9.2.)"""
    from xdist.scheduler import LoadScopeScheduling

    class AdbModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "adb" if _talks_to_adb(module) else module

    return AdbModulesTogether(config, log)


_STARTED_BY: dict[tuple, str] = {}  # REGISTRY.emulators key -> name of the fixture whose set-up started it
_LAST_USE = pytest.StashKey[dict]()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = set(REGISTRY.emulators)
    yield
    for key in set(REGISTRY.emulators) - before:
        _STARTED_BY[key] = fixturedef.argname


def _requested(item: pytest.Item) -> set[str]:
    """Fixture names the item uses: its closure, and parameter values naming a fixture that the test or a
    fixture fetches with request.getfixturevalue (tests/collectors/test_collect_adb.py's `phone`)."""
    callspec = getattr(item, "callspec", None)
    params = {v for v in callspec.params.values() if isinstance(v, str)} if callspec else set()
    return set(getattr(item, "fixturenames", ())) | params


def _last_use(items: list[pytest.Item], name: str) -> str | None:
    """nodeid of the item after whose teardown fixture `name`'s phone can go: the last item that uses it, or,
    when module-scoped fixtures of that item's module may still hold it, the module's last item."""
    used = [i for i, item in enumerate(items) if name in _requested(item)]
    if not used:
        return None
    index = used[-1]
    module = getattr(items[index], "module", None)
    while index + 1 < len(items) and getattr(items[index + 1], "module", None) is module:
        index += 1
    return items[index].nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    yield  # the item's fixtures (and its module's, at a module boundary) are torn down first
    if nextitem is None:
        return  # the session's end stops everything (REGISTRY's cleanup)
    last = item.session.stash.setdefault(_LAST_USE, {})
    for key, name in list(_STARTED_BY.items()):
        if name not in last:
            last[name] = _last_use(item.session.items, name)
        if last[name] == item.nodeid and key in REGISTRY.emulators:
            REGISTRY.stop(*key)
            del _STARTED_BY[key]


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data directory {SHARED} is absent (CI provides ../shared beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def adb_server(request, tmp_path_factory) -> AdbServer:
    return REGISTRY.adb_server(request, tmp_path_factory.mktemp("adb"))


@pytest.fixture(scope="session")
def pixel7(adb_server) -> Emulator:
    return REGISTRY.emulator(adb_server, "pixel7")


@pytest.fixture(scope="session")
def sm8550(adb_server) -> Emulator:
    return REGISTRY.emulator(adb_server, "sm8550")
