"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent; the ADB fixtures start
Debian's adb server and `fusegov emulate` once per session (tests/helpers/adb.py), and stop each REGISTRY
phone after the last test that uses the fixture that started it (at that test's module end): an idle served
phone still ticks its simulation in real time (~7% of a core each, ~12% at --speed 20), which the rest of the
suite would pay for on a 2-core CI machine.

tests/setup_and_test.sh runs the suite in one pytest-xdist worker per core, a module at a time (`--dist
loadfile`: module fixtures are built once). Each worker that runs an adb test starts its own adb server and
phones; a worker's phone stops after the last test in collection order that uses it, or at the worker's end
when another worker ran that test. (`--dist loadgroup`, which could keep every adb test on one worker, does not
group under pytest 9.2: xdist 3.8 renames nodes through an attribute pytest no longer reads.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.adb import REGISTRY, AdbServer, Emulator

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


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
