"""Shell builtins: control flow, variables, `read`, `eval`, `sleep`, `wait`, `command -v`."""

from __future__ import annotations

import re
import signal

from android.emulator.shell.interp import (
    COMMANDS,
    SH,
    SHELL_BUILTINS,
    Cancelled,
    Ctx,
    ShellExit,
    _Break,
    _Continue,
    _Return,
    command,
)
from android.emulator.shell.syntax import ShellSyntaxError, parse
from android.errors import DeviceError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^([0-9]*\.?[0-9]+)([smhd]?)$")
_DURATION_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@command("true", ":")
def cmd_true(ctx: Ctx) -> int:
    return 0


@command("false")
def cmd_false(ctx: Ctx) -> int:
    return 1


def _count(ctx: Ctx, default: int) -> int:
    if len(ctx.argv) < 2:
        return default
    if not ctx.argv[1].lstrip("-").isdigit():
        raise ShellExit(ctx.fail(f"{ctx.argv[1]}: bad number", 2))
    return int(ctx.argv[1])


@command("exit")
def cmd_exit(ctx: Ctx) -> int:
    raise ShellExit(_count(ctx, ctx.session.status) & 0xFF)


@command("return")
def cmd_return(ctx: Ctx) -> int:
    raise _Return(_count(ctx, ctx.session.status) & 0xFF)


@command("break")
def cmd_break(ctx: Ctx) -> int:
    raise _Break(max(1, _count(ctx, 1)))


@command("continue")
def cmd_continue(ctx: Ctx) -> int:
    raise _Continue(max(1, _count(ctx, 1)))


@command("shift")
def cmd_shift(ctx: Ctx) -> int:
    n = _count(ctx, 1)
    session = ctx.session
    if n > len(session.positional):
        return ctx.fail(f"{n}: shift count out of range")
    session.positional = session.positional[n:]
    return 0


@command("export", "local", "readonly")
def cmd_export(ctx: Ctx) -> int:
    session = ctx.session
    if len(ctx.argv) == 1 or ctx.argv[1:] == ["-p"]:
        for name in sorted(session.exported):
            if name in session.vars:
                ctx.out(f"export {name}={_quote(session.vars[name])}\n")
        return 0
    for item in ctx.argv[1:]:
        name, has_value, value = item.partition("=")
        if not _NAME.match(name):
            return ctx.fail(f"{item}: is not an identifier")
        if has_value:
            session.set_var(name, value)
        if ctx.argv[0] == "export":
            session.exported.add(name)
    return 0


@command("unset")
def cmd_unset(ctx: Ctx) -> int:
    for name in ctx.argv[1:]:
        if name in ("-v", "-f"):
            continue
        ctx.session.vars.pop(name, None)
        ctx.session.functions.pop(name, None)
        ctx.session.exported.discard(name)
    return 0


@command("set")
def cmd_set(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    if not args:
        for name, value in sorted(ctx.session.vars.items()):
            ctx.out(f"{name}={_quote(value)}\n")
        return 0
    session = ctx.session
    for k, arg in enumerate(args):
        if arg == "--":
            session.positional = args[k + 1 :]
            break
        if arg in ("-o", "+o") and k + 1 < len(args):
            flag = {"errexit": "e", "xtrace": "x"}.get(args[k + 1], "")
            arg = arg[0] + flag
        if arg[:1] in "-+" and len(arg) > 1:
            on = arg[0] == "-"
            if "e" in arg:
                session.errexit = on
            if "x" in arg:
                session.xtrace = on
    return 0  # other options (-u, -o pipefail, ...) are accepted and not emulated


@command("trap")
def cmd_trap(ctx: Ctx) -> int:
    """`trap CMD SIG...`: EXIT runs when the shell ends; a signal's trap runs when that signal ends the
    shell (the virtual shell then exits rather than resuming); `trap - SIG` removes it."""
    args = ctx.argv[1:]
    session = ctx.session
    if not args:
        for name, handler in session.traps.items():
            ctx.out(f"trap -- {_quote(handler)} {name}\n")
        return 0
    handler, names = args[0], args[1:] or []
    for name in names:
        key = name.upper().removeprefix("SIG")
        key = "EXIT" if key == "0" else signal.Signals(int(key)).name[3:] if key.isdigit() else key
        if key != "EXIT" and f"SIG{key}" not in signal.Signals.__members__:
            return ctx.fail(f"{name}: bad signal")
        if handler == "-":
            session.traps.pop(key, None)
        else:
            session.traps[key] = handler
        if key == "HUP":
            session.proc.ignore_hup = handler == ""
    return 0


@command("umask", "ulimit", "renice", "sync", "hash")
def cmd_accept(ctx: Ctx) -> int:
    """Builtins whose effect does not exist on the virtual phone (no file-creation mask, resource
    limits or page cache to flush): accepted, as they change nothing fusegov could observe."""
    return 0


@command("eval")
def cmd_eval(ctx: Ctx) -> int:
    session = ctx.session
    saved = session._source
    try:
        return _run_in(session, " ".join(ctx.argv[1:]), ctx)
    finally:
        session._source = saved


def _run_in(session, text: str, ctx: Ctx) -> int:
    """Run text in the current shell (eval, `.`), letting exit/return/break through."""
    try:
        script = parse(text)
    except ShellSyntaxError as exc:
        ctx.err(f"{SH}: {exc}\n")
        return 1
    session._source = script.source
    status = 0
    for node in script.nodes:
        status = session.status = session.execute(node, ctx.io)
    return status


@command(".", "source")
def cmd_source(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return ctx.fail("filename argument required", 2)
    session = ctx.session
    try:
        text = session.phone.fs.read(session.abspath(ctx.argv[1]), session.uid).decode(errors="replace")
    except DeviceError:
        ctx.err(f"{SH}: {ctx.argv[1]}: not found\n")
        return 1
    saved_source, saved_positional = session._source, session.positional
    if len(ctx.argv) > 2:
        session.positional = ctx.argv[2:]
    try:
        return _run_in(session, text, ctx)
    except _Return as exc:
        return exc.code
    finally:
        session._source = saved_source
        session.positional = saved_positional


@command("read")
def cmd_read(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    raw = False
    while args and args[0].startswith("-"):
        raw = raw or "r" in args[0]
        args = args[1:]
    names = args or ["REPLY"]
    line = ctx.io.stdin.readline()
    if not line:
        for name in names:
            ctx.session.set_var(name, "")
        return 1
    text = line.decode(errors="replace").rstrip("\n")
    if not raw:
        text = re.sub(r"\\(.)", r"\1", text)
    if names == ["REPLY"] and not args:
        ctx.session.set_var("REPLY", text)
        return 0
    fields = text.split(None, len(names) - 1) if text.strip() else []
    for k, name in enumerate(names):
        ctx.session.set_var(name, fields[k].strip() if k < len(fields) else "")
    return 0


def parse_duration_s(text: str) -> float | None:
    match = _DURATION.match(text)
    return float(match.group(1)) * _DURATION_S[match.group(2)] if match else None


@command("sleep")
def cmd_sleep(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return ctx.fail("missing operand")
    total_s = 0.0
    for arg in ctx.argv[1:]:
        seconds = parse_duration_s(arg)
        if seconds is None:
            return ctx.fail(f"invalid number '{arg}'")
        total_s += seconds
    session = ctx.session
    if not session.runtime.clock.sleep(total_s, session.proc.pid, session.foreground, session.cancel):
        raise Cancelled(session.proc.signal_no or signal.SIGTERM)
    return 0


@command("wait")
def cmd_wait(ctx: Ctx) -> int:
    """Wait for background jobs. The shell remembers the jobs it started, so `wait PID` reports the status
    of a job that has already ended (as sh does), not 127: the answer never depends on who ran first."""
    session = ctx.session
    procs = session.runtime.procs
    if len(ctx.argv) > 1:
        targets = [session.jobs.get(int(a)) or procs.get(int(a)) for a in ctx.argv[1:] if a.isdigit()]
    else:
        live_children = [p for p in procs.live() if p.ppid == session.proc.pid]
        targets = list({p.pid: p for p in [*session.jobs.values(), *live_children]}.values())
    status = 0
    for proc in targets:
        if proc is None:
            status = 127
            continue
        while not proc.done.wait(0.05):
            session.check_cancel()
        status = proc.exit_code or 0
        session.jobs.pop(proc.pid, None)
    return status


@command("command", "type", "which")
def cmd_command(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    name = ctx.argv[0]
    if name == "command" and args and args[0] not in ("-v", "-V"):
        ctx.argv = args
        return ctx.session.run_argv(ctx)
    args = [a for a in args if not a.startswith("-")]
    status = 0
    for arg in args:
        if arg in ctx.session.functions:
            ctx.out(f"{arg}\n" if name != "type" else f"{arg} is a function\n")
        elif arg in SHELL_BUILTINS and name != "which":
            ctx.out(f"{arg}\n" if name != "type" else f"{arg} is a shell builtin\n")
        elif arg in COMMANDS and not arg.startswith("<"):
            path = f"/system/bin/{arg}"
            ctx.out(f"{path}\n" if name != "type" else f"{arg} is {path}\n")
        else:
            if name == "type":
                ctx.out(f"{arg} not found\n")
            status = 1
    return status


@command("exec")
def cmd_exec(ctx: Ctx) -> int:
    if len(ctx.argv) == 1:
        return 0
    ctx.argv = ctx.argv[1:]
    raise ShellExit(ctx.session.run_argv(ctx))


@command("env")
def cmd_env(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    overrides: dict[str, str] = {}
    while args and "=" in args[0] and not args[0].startswith("="):
        name, _, value = args[0].partition("=")
        overrides[name] = value
        args = args[1:]
    if not args:
        for name, value in sorted(ctx.session.env({**ctx.env, **overrides}).items()):
            ctx.out(f"{name}={value}\n")
        return 0
    ctx.env = {**ctx.env, **overrides}
    ctx.argv = args
    return ctx.session.run_argv(ctx)


def _quote(value: str) -> str:
    return value if re.match(r"^[A-Za-z0-9_./:=+-]*$", value) else "'" + value.replace("'", "'\\''") + "'"
