"""A script pushed to the virtual phone and run by its `python3` reaches only the phone.

Each escape route is tried from inside one script (one interpreter start for all of them) and must end
in a refusal that names what was refused; canaries on the host (a secret file, an environment variable of
the emulator, a host process, a path the script tries to create) show that nothing got through. A second
group checks that what a sampler or a governor daemon needs keeps working, and a third that the kernel
layers hold on their own, without the audit hook."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.shell import pyrun, run_shell
from android.emulator.shell.runtime import runtime_of
from android.emulator.vfs import SHELL_UID

CANARY_ENV = "FUSEGOV_HOST_CANARY"
SECRET = "host-secret-7f3a"

# route -> (code run in the script, exception type expected, words the message must contain)
ROUTES = {
    "builtins.open host file": ("open(CANARY_FILE).read()", "PermissionError", "reading host file"),
    "io.FileIO": ("import io; io.FileIO(CANARY_FILE).read()", "PermissionError", "reading host file"),
    "_io.FileIO": ("import _io; _io.FileIO(CANARY_FILE).read()", "PermissionError", "reading host file"),
    "io.open_code": ("import io; io.open_code(CANARY_FILE).read()", "PermissionError", "reading host file"),
    "os.open": ("os.read(os.open(CANARY_FILE, os.O_RDONLY), 99)", "PermissionError", "reading host file"),
    "posix.open": ("import posix; posix.open(CANARY_FILE, 0)", "PermissionError", "reading host file"),
    "pathlib": ("import pathlib; pathlib.Path(CANARY_FILE).read_text()", "PermissionError", "reading host file"),
    "write host file": ("open(CANARY_NEW, 'w').write('x')", "PermissionError", "writing host file"),
    "posix.open for writing": (
        "import posix; posix.open(CANARY_NEW, os.O_WRONLY | os.O_CREAT)",
        "PermissionError",
        "writing host file",
    ),
    "listdir host": ("import posix; posix.listdir(CANARY_DIR)", "PermissionError", "listing host directory"),
    "os.scandir host": ("import posix; list(posix.scandir(CANARY_DIR))", "PermissionError", "listing host"),
    "stat host": ("os.stat(CANARY_FILE)", "PermissionError", "os.stat of a host path"),
    "importlib host file": (
        "import importlib.machinery as m; m.SourceFileLoader('x', CANARY_FILE).load_module()",
        "PermissionError",
        "reading host file",
    ),
    "extension from site-packages": (
        "import importlib.util as u; spec = u.spec_from_file_location('_np', SITE_SO); u.module_from_spec(spec)",
        "PermissionError",
        "from host file",
    ),
    "sys.path to site-packages": ("sys.path.insert(0, SITE_DIR); import pytest", "ModuleNotFoundError", "pytest"),
    "subprocess.Popen": ("import subprocess; subprocess.Popen(['touch', CANARY_NEW])", "PermissionError", "Popen"),
    "os.execv": ("os.execv('/bin/touch', ['touch', CANARY_NEW])", "PermissionError", "os.exec"),
    "os.posix_spawn": ("os.posix_spawn('/bin/touch', ['touch', CANARY_NEW], {})", "PermissionError", "posix_spawn"),
    "os.fork": ("os.fork()", "PermissionError", "os.fork"),
    "_posixsubprocess.fork_exec": (
        "import _posixsubprocess as p; p.fork_exec(['/bin/touch'], [b'/bin/touch'], True, (), None, None, "
        "-1, -1, -1, -1, -1, -1, -1, -1, False, False, None, None, None, -1, None, False)",
        "PermissionError",
        "fork_exec",
    ),
    "ctypes CDLL(None).system": (
        "import ctypes; ctypes.CDLL(None).system(b'touch ' + CANARY_NEW.encode())",
        "PermissionError",
        "import of ctypes",
    ),
    "reimport posix": (
        "saved = sys.modules.pop('posix')\ntry:\n    import posix\nfinally:\n    sys.modules['posix'] = saved",
        "PermissionError",
        "import of posix",
    ),
    "gc.get_objects": ("import gc; gc.get_objects()", "PermissionError", "gc.get_objects"),
    "sys.modules socket": (
        "sys.modules['_socket'].socket(2, 1).connect(('127.0.0.1', 9))",
        "PermissionError",
        "network sockets",
    ),
    "unix socket to host": (
        "import socket; socket.socket(socket.AF_UNIX).connect('/run/x.sock')",
        "PermissionError",
        "network access",
    ),
    "udp": ("import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)", "PermissionError", "network"),
    "name lookup": ("import socket; socket.getaddrinfo('localhost', 80)", "PermissionError", "getaddrinfo"),
    "mmap of a host fd": ("import mmap; mmap.mmap(0, 4096)", "PermissionError", "mmap of host file descriptor"),
    "ioctl on a host fd": ("import fcntl; fcntl.ioctl(1, 0x5412, b'x')", "PermissionError", "ioctl on host"),
    "posix.kill a host pid": ("import posix; posix.kill(CANARY_PID, 15)", "PermissionError", "os.kill"),
    "os.killpg": ("os.killpg(CANARY_PID, 15)", "PermissionError", "os.killpg"),
    "os.kill reaches phone pids only": ("os.kill(CANARY_PID, 15)", "ProcessLookupError", "No such process"),
    "resource.setrlimit": (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
        "PermissionError",
        "resource limits",
    ),
    "mkfifo": ("import posix; posix.mkfifo(CANARY_NEW)", "PermissionError", "mkfifo"),
    "subinterpreter": ("import _xxsubinterpreters", "PermissionError", "import of _xxsubinterpreters"),
}


SCRIPT = """
import json, os, sys
CANARY_FILE, CANARY_NEW, CANARY_DIR, CANARY_PID = {file!r}, {new!r}, {dir!r}, {pid}
SITE_DIR, SITE_SO = {site_dir!r}, {site_so!r}
results = {{}}
for name, code in {routes!r}.items():
    try:
        exec(code)
        results[name] = ["no error", ""]
    except BaseException as exc:
        results[name] = [type(exc).__name__, str(exc)]
for fd in range(3, 256):  # inherited descriptors: which are open (the RPC socket only)
    try:
        os.fstat(fd)
        results.setdefault("open fds", []).append(fd)
    except OSError:
        pass
results["environ"] = dict(os.environ)
results["proc environ"] = open("/proc/self/environ").read()
print(json.dumps(results))
"""


def _site_extension() -> tuple[str, str]:
    """A compiled extension in this test run's site-packages (numpy's), to try loading from the phone."""
    import numpy

    site = str(Path(numpy.__file__).parents[1])
    so = next(str(p) for p in Path(numpy.__file__).parent.rglob("*.so"))
    return site, so


@pytest.fixture(scope="module")
def escapes(tmp_path_factory):
    host = tmp_path_factory.mktemp("host")
    canary = host / "canary.txt"
    canary.write_text(SECRET)
    created = host / "created-by-phone"
    os.environ[CANARY_ENV] = SECRET
    victim = subprocess.Popen(["sleep", "60"])
    site_dir, site_so = _site_extension()
    try:
        phone = VirtualPhone("pixel7")
        script = SCRIPT.format(
            file=str(canary),
            new=str(created),
            dir=str(host),
            pid=victim.pid,
            site_dir=site_dir,
            site_so=site_so,
            routes={name: code for name, (code, _, _) in ROUTES.items()},
        )
        phone.fs.write("/data/local/tmp/escape.py", script.encode(), SHELL_UID)
        result = run_shell(phone, "python3 /data/local/tmp/escape.py", uid=SHELL_UID, timeout_s=120)
        assert result.exit_code == 0, result.stderr
        yield {
            "results": json.loads(result.stdout),
            "output": result.stdout + result.stderr,
            "created": created,
            "victim_alive": victim.poll() is None,
            "layers": runtime_of(phone).confinement,
        }
    finally:
        os.environ.pop(CANARY_ENV, None)
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("route", list(ROUTES))
def test_escape_route_is_refused(escapes, route):
    _, expected, words = ROUTES[route]
    kind, message = escapes["results"][route]
    assert (kind, words in message) == (expected, True), f"{route}: {kind}: {message}"


def test_the_host_saw_nothing(escapes):
    assert SECRET not in escapes["output"]  # neither the canary file nor the emulator's environment leaked
    assert not escapes["created"].exists()
    assert escapes["victim_alive"]
    env = escapes["results"]["environ"]
    assert CANARY_ENV not in env and env["ANDROID_DATA"] == "/data" and env["USER"] == "shell"
    assert "ANDROID_DATA=/data\0" in escapes["results"]["proc environ"]
    assert len(escapes["results"]["open fds"]) == 1  # the phone's RPC socket, nothing of the host


def test_every_layer_is_active_or_reported(escapes):
    layers = {name: (active, detail) for name, active, detail in escapes["layers"]}
    assert set(layers) == {"rlimits", "landlock", "seccomp", "capabilities"}
    assert layers["rlimits"][0]
    for name, (active, detail) in layers.items():
        assert active or detail, f"{name} is off without saying why"


DAEMON_NEEDS = """
import asyncio, json, logging, os, select, signal, socket, threading, time, collections, dataclasses, re
out = {}
hits = []
signal.signal(signal.SIGHUP, lambda *a: hits.append("HUP"))
os.kill(os.getpid(), signal.SIGHUP)
a, b = socket.socketpair()
a.sendall(b"ping")
ready, _, _ = select.select([b], [], [], 1.0)
out["socketpair"] = b.recv(4).decode() if ready else "timeout"
box = []
worker = threading.Thread(target=lambda: box.append(sum(range(1000))))
worker.start(); worker.join()
out["thread"] = box
t0 = time.monotonic(); time.sleep(30); out["slept"] = round(time.monotonic() - t0, 6)
out["asyncio"] = asyncio.run(asyncio.sleep(0, result="done"))
path = "/sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq"
out["sysfs"] = [int(open(path).read()) > 0 for _ in range(3)]
with open("/data/local/tmp/state.json", "w") as f:
    json.dump({"ok": True}, f)
out["state"] = json.load(open("/data/local/tmp/state.json"))
out["hup"] = hits
out["uname"] = os.uname().release
print(json.dumps(out))
"""


def test_what_a_daemon_needs_keeps_working():
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/needs.py", DAEMON_NEEDS.encode(), SHELL_UID)
    result = run_shell(phone, "python3 /data/local/tmp/needs.py", uid=SHELL_UID, timeout_s=60)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["socketpair"] == "ping" and out["thread"] == [499500] and out["hup"] == ["HUP"]
    assert out["slept"] == pytest.approx(30.0, abs=1e-6)  # simulated time: no wall-clock limit applies
    assert out["asyncio"] == "done" and out["sysfs"] == [True] * 3 and out["state"] == {"ok": True}
    assert out["uname"].startswith("5.10")


def test_phone_device_descriptors_dispatch_ioctl_and_mmap_to_registered_handlers(monkeypatch):
    """The place the GPU device files plug in: pyrun.FD_OPS answers ioctl/mmap on a phone fd."""
    calls = []

    def ioctl(server, path, header, payload):
        calls.append((path, header["request"], payload))
        return {"ok": True, "result": 7}, payload[::-1]

    monkeypatch.setitem(pyrun.FD_OPS, "ioctl", ioctl)
    phone = VirtualPhone("pixel7")
    script = (
        "import fcntl, mmap, os\n"
        "fd = os.open('/dev/null', os.O_RDWR)\n"
        "buf = bytearray(b'abc')\n"
        "print(fcntl.ioctl(fd, 0xC0140938, buf), bytes(buf).decode(), fcntl.ioctl(fd, 1, b'xy').decode())\n"
        "try:\n    mmap.mmap(fd, 4096)\nexcept OSError as exc:\n    print(exc.errno)\n"
    )
    result = run_shell(phone, f'python3 -c "{script}"', uid=SHELL_UID, timeout_s=60)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["7", "cba", "yx", "19"]  # mmap: ENODEV until a device registers one
    assert calls[0] == ("/dev/null", 0xC0140938, b"abc")


KERNEL_ONLY = """
import errno, json, os, socket, sys
sys.path.insert(0, {shell_dir!r})
import pyguard
report = pyguard.confine(1 << 30, 64)
out = {{"layers": report}}
def attempt(name, call):
    try:
        call()
        out[name] = "allowed"
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
attempt("exec", lambda: os.execv("/bin/true", ["true"]))
attempt("fork", lambda: os.fork())
attempt("read host", lambda: open({secret!r}).read())
attempt("write host", lambda: open({new!r}, "w"))
attempt("inet socket", lambda: socket.socket())
attempt("signal host", lambda: os.kill({pid}, 15))
attempt("read stdlib", lambda: open(os.__file__).read(10))
print(json.dumps(out))
"""


def test_kernel_layers_hold_without_the_audit_hook(tmp_path):
    """Landlock and seccomp alone (no hook installed): what a script that defeated the hook would meet."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    victim = subprocess.Popen(["sleep", "60"])
    code = KERNEL_ONLY.format(
        shell_dir=str(Path(pyrun.__file__).parent), secret=str(secret), new=str(tmp_path / "new"), pid=victim.pid
    )
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", code], capture_output=True, text=True, env={})
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        layers = {name: active for name, active, _ in out["layers"]}
        if layers["seccomp"]:
            assert (out["exec"], out["fork"], out["inet socket"], out["signal host"]) == ("EPERM",) * 4
        if layers["landlock"]:
            assert (out["read host"], out["write host"]) == ("EACCES", "EACCES")
        if not (layers["seccomp"] and layers["landlock"]):
            pytest.skip(f"kernel layers missing on this host: {out['layers']}")
        assert out["read stdlib"] == "allowed"
        assert victim.poll() is None and not (tmp_path / "new").exists()
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()


def test_script_limits_refuse_memory_beyond_the_limit():
    phone = VirtualPhone("pixel7")
    runtime_of(phone).script_limits.memory_bytes = 256 << 20
    code = textwrap.dedent("""
        try:
            block = bytearray(512 << 20)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """)
    phone.fs.write("/data/local/tmp/big.py", code.encode(), SHELL_UID)
    result = run_shell(phone, "python3 /data/local/tmp/big.py", uid=SHELL_UID, timeout_s=60)
    assert result.stdout == "MemoryError\n"


def test_garbage_written_to_the_rpc_socket_ends_only_that_script():
    """The one inherited descriptor besides stdio is the phone's RPC socket: writing raw bytes to it is a
    protocol error for that script (its requests stop), not a way into the emulator."""
    phone = VirtualPhone("pixel7")
    code = (
        "import os\n"
        "def is_open(fd):\n"
        "    try:\n"
        "        return os.fstat(fd) is not None\n"
        "    except OSError:\n"
        "        return False\n"
        "rpc = [fd for fd in range(3, 64) if is_open(fd)][0]\n"
        "os.write(rpc, b'\\xff' * 64)\n"
        "print('wrote', flush=True)\n"
        "open('/data/local/tmp/after', 'w')\n"
    )
    phone.fs.write("/data/local/tmp/garbage.py", code.encode(), SHELL_UID)
    result = run_shell(phone, "python3 /data/local/tmp/garbage.py", uid=SHELL_UID, timeout_s=60)
    assert result.stdout == "wrote\n" and result.exit_code != 0
    assert not phone.fs.exists("/data/local/tmp/after")
    assert run_shell(phone, "python3 -c 'print(6 * 7)'", uid=SHELL_UID, timeout_s=60).stdout == "42\n"


@pytest.mark.slow
def test_the_standard_library_imports_on_the_phone():
    """Every module of the standard library a phone script could use imports under the guard (only the
    raw-access ones are refused, and the other platforms' are absent)."""
    import sys

    skipped = {"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle", "ensurepip", "venv", "lib2to3"}
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith("_") and n not in skipped)
    code = (
        "import importlib, json\nbad = {}\n"
        f"for name in {names!r}:\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except BaseException as exc:\n        bad[name] = type(exc).__name__\n"
        "print(json.dumps(bad))\n"
    )
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/stdlib.py", code.encode(), SHELL_UID)
    result = run_shell(phone, "python3 /data/local/tmp/stdlib.py", uid=SHELL_UID, timeout_s=300)
    failed = json.loads(result.stdout)
    assert failed.pop("ctypes") == "PermissionError"
    assert set(failed) <= {"msilib", "msvcrt", "nt", "winreg", "winsound"}, failed
