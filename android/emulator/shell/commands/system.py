"""System commands: getprop/setprop, id/whoami, su (root only through su, like a rooted phone), sh,
kill, ps, pidof, nohup, uname, date."""

from __future__ import annotations

import re
import signal
import time

from android.emulator.shell.interp import SH, Ctx, Session, command
from android.emulator.shell.procs import SYSTEM_PROCS, NotPermitted, ProcessGone, ProcessLimit, user_name
from android.emulator.vfs import ROOT_UID
from android.errors import DeviceError

SHELL_GROUPS = (
    "2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),1078(ext_data_rw),"
    "1079(ext_obb_rw),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),"
    "3011(uhid),3012(readtracefs)"
)
SHELL_SETTABLE_PROPS = ("debug.", "log.tag.", "persist.log.tag.", "persist.debug.", "ctl.")
PROP_VALUE_MAX = 92
KERNEL_RELEASE = "5.10.149-android13-4-00003-g05231a35ff43-ab9850788"  # uname -r, and os.uname() in python3
KERNEL_VERSION = "#1 SMP PREEMPT Tue Feb 14 19:08:38 UTC 2023"
SIGNALS = {name[3:]: int(sig) for name, sig in signal.Signals.__members__.items() if not name.startswith("SIG_")}


@command("getprop")
def cmd_getprop(ctx: Ctx) -> int:
    props = ctx.session.phone.props
    with ctx.session.phone.lock:
        items = sorted(props.items())
        if len(ctx.argv) == 1:
            ctx.out("".join(f"[{k}]: [{v}]\n" for k, v in items))
            return 0
        default = ctx.argv[2] if len(ctx.argv) > 2 else ""
        ctx.out(props.get(ctx.argv[1], default) + "\n")
    return 0


@command("setprop")
def cmd_setprop(ctx: Ctx) -> int:
    if len(ctx.argv) != 3:
        return ctx.fail("need 2 arguments")
    name, value = ctx.argv[1], ctx.argv[2]
    phone = ctx.session.phone
    with phone.lock:
        denied = (
            (name.startswith("ro.") and name in phone.props)
            or (ctx.session.uid != ROOT_UID and not name.startswith(SHELL_SETTABLE_PROPS))
            or (len(value) >= PROP_VALUE_MAX and not name.startswith("ro."))
        )
        if denied:
            ctx.err(f"Failed to set property '{name}' to '{value}'.\nSee dmesg for error reason.\n")
            return 1
        phone.props[name] = value
    return 0


@command("id")
def cmd_id(ctx: Ctx) -> int:
    uid = ctx.session.uid
    args = ctx.argv[1:]
    if "-u" in args:
        ctx.out(f"{uid}\n" if "-n" not in args else f"{user_name(uid)}\n")
        return 0
    if uid == ROOT_UID:
        ctx.out("uid=0(root) gid=0(root) groups=0(root) context=u:r:magisk:s0\n")
    else:
        ctx.out(f"uid={uid}({user_name(uid)}) gid={uid}({user_name(uid)}) groups={SHELL_GROUPS} context=u:r:shell:s0\n")
    return 0


@command("whoami")
def cmd_whoami(ctx: Ctx) -> int:
    ctx.out(user_name(ctx.session.uid) + "\n")
    return 0


def child_shell(ctx: Ctx, uid: int, name: str, cmdline: str) -> Session:
    """A new shell process (sh, su) under the current one, sharing its streams."""
    parent = ctx.session
    proc = parent.runtime.procs.spawn(parent.proc.pid, uid, name, cmdline)
    proc.cancel = parent.cancel  # it runs in the foreground: stopping the parent stops it too
    return Session(
        parent.phone,
        uid,
        proc,
        runtime=parent.runtime,
        foreground=parent.foreground,
        cwd=parent.cwd,
        env=None if uid != parent.uid else parent.env(ctx.env),
    )


def run_child(ctx: Ctx, child: Session, text: str | None, args: list[str] | None = None) -> int:
    """Run `text` (or read commands from stdin when None) in a child shell; returns its status."""
    child.positional = list(args or [])
    status = 1
    try:
        status = child.run(text, ctx.io) if text is not None else child.interact(ctx.io)
    finally:
        child.runtime.clock.leave(child.proc.pid)
        child.runtime.procs.exited(child.proc, status)
    return status


@command("su")
def cmd_su(ctx: Ctx) -> int:
    try:
        return _su(ctx)
    except ProcessLimit as exc:
        return ctx.fail(f"can't fork: {exc}")


def _su(ctx: Ctx) -> int:
    """Magisk-style `su -c 'cmd'`, AOSP-style `su 0 cmd args`, or a root shell reading stdin."""
    if not ctx.session.runtime.su_available:
        ctx.err(f"{SH}: su: inaccessible or not found\n")
        return 127
    args = ctx.argv[1:]
    command_text: str | None = None
    while args:
        arg = args[0]
        if arg in ("-c", "--command") and len(args) > 1:
            command_text = args[1]
            args = args[2:]
            break
        if arg in ("-", "-l", "--login", "-p", "--preserve-environment", "-mm", "-M", "--mount-master"):
            args = args[1:]
            continue
        if arg in ("0", "root"):
            args = args[1:]
            if args:
                command_text = " ".join(_sh_quote(a) for a in args)
                args = []
            break
        if arg.isdigit() or arg in ("shell", "system"):
            ctx.err("su: only root (0) is supported by this su\n")
            return 1
        break
    child = child_shell(ctx, ROOT_UID, "sh", "su")
    child.positional = args
    return run_child(ctx, child, command_text, args)


@command("sh", "mksh", "bash")
def cmd_sh(ctx: Ctx) -> int:
    try:
        return _sh(ctx)
    except ProcessLimit as exc:
        return ctx.fail(f"can't fork: {exc}")


def _sh(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    while args and args[0] in ("-e", "-x", "-u", "-i", "-s", "-l"):
        args = args[1:]
    session = ctx.session
    child = child_shell(ctx, session.uid, "sh", " ".join([SH, *args]))
    if args and args[0] == "-c":
        if len(args) < 2:
            return ctx.fail("-c requires an argument", 2)
        if len(args) > 2:
            child.arg0 = args[2]
        return run_child(ctx, child, args[1], args[3:])
    if args:
        path = args[0]
        try:
            text = session.phone.fs.read(session.abspath(path), session.uid).decode(errors="replace")
        except DeviceError:
            ctx.err(f"{SH}: {path}: No such file or directory\n")
            return 127
        child.arg0 = path
        return run_child(ctx, child, text, args[1:])
    return run_child(ctx, child, None)


def parse_signal(text: str) -> int | None:
    name = text.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name)
    return SIGNALS.get(name)


@command("kill")
def cmd_kill(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    sig = signal.SIGTERM
    if args and args[0] == "-l":
        ctx.out(" ".join(sorted(SIGNALS, key=SIGNALS.get)) + "\n")
        return 0
    if args and args[0] == "-s" and len(args) > 1:
        parsed = parse_signal(args[1])
        args = args[2:]
    elif args and args[0].startswith("-") and len(args[0]) > 1:
        parsed = parse_signal(args[0][1:])
        args = args[1:]
    else:
        parsed = sig
    if parsed is None:
        return ctx.fail(f"unknown signal '{ctx.argv[1]}'")
    if not args:
        ctx.err("kill: usage: kill [-s SIGNAL | -SIGNAL] PID...\n")
        return 2
    status = 0
    session = ctx.session
    for arg in args:
        if not re.fullmatch(r"-?\d+", arg):
            ctx.err(f"{SH}: kill: {arg}: arguments must be process or job IDs\n")
            status = 1
            continue
        try:
            session.runtime.procs.kill(int(arg), parsed, session.uid)
        except ProcessGone:
            ctx.err(f"{SH}: kill: {arg}: No such process\n")
            status = 1
        except NotPermitted:
            ctx.err(f"{SH}: kill: {arg}: Operation not permitted\n")
            status = 1
    return status


_PS_FIELDS = {
    "USER": lambda p: user_name(p[2]),
    "PID": lambda p: str(p[0]),
    "PPID": lambda p: str(p[1]),
    "UID": lambda p: str(p[2]),
    "NAME": lambda p: p[3],
    "S": lambda p: p[5],
    "STAT": lambda p: p[5],
    "CMD": lambda p: p[4],
    "ARGS": lambda p: p[4],
    "CMDLINE": lambda p: p[4],
    "COMM": lambda p: p[3],
    "VSZ": lambda p: "10782796",
    "RSS": lambda p: "4412",
    "WCHAN": lambda p: "0",
    "ADDR": lambda p: "0",
}
_PS_DEFAULT = ("USER", "PID", "PPID", "VSZ", "RSS", "WCHAN", "ADDR", "S", "NAME")


@command("ps")
def cmd_ps(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    show_all, pids, columns = False, None, list(_PS_DEFAULT)
    while args:
        arg = args.pop(0)
        if arg in ("-A", "-e", "-ef", "-Af", "-a"):
            show_all = True
        elif arg == "-p" and args:
            pids = {int(p) for p in re.split(r"[ ,]+", args.pop(0)) if p.isdigit()}
        elif arg == "-o" and args:
            columns = [c.upper().split("=")[0] for c in re.split(r"[ ,]+", args.pop(0)) if c]
        elif arg.isdigit():
            pids = (pids or set()) | {int(arg)}
    session = ctx.session
    rows = [(pid, ppid, uid, name, name, "S") for pid, ppid, uid, name in SYSTEM_PROCS]
    rows += [(p.pid, p.ppid, p.uid, p.name, p.cmdline, p.state) for p in session.runtime.procs.live()]
    if pids is not None:
        rows = [r for r in rows if r[0] in pids]
    elif not show_all:
        rows = [r for r in rows if r[2] == session.uid and r[0] not in {s[0] for s in SYSTEM_PROCS}]
    unknown = [c for c in columns if c not in _PS_FIELDS]
    if unknown:
        return ctx.fail(f"bad -o {unknown[0]}")
    table = [columns] + [[_PS_FIELDS[c](r) for c in columns] for r in sorted(rows)]
    widths = [max(len(line[k]) for line in table) for k in range(len(columns))]
    for line in table:
        cells = [
            cell.rjust(w) if col in ("PID", "PPID", "VSZ", "RSS", "UID") else cell.ljust(w)
            for cell, w, col in zip(line, widths, columns)
        ]
        ctx.out(" ".join(cells).rstrip() + "\n")
    return 0 if pids is None or len(table) > 1 else 1


@command("pidof")
def cmd_pidof(ctx: Ctx) -> int:
    names = set(ctx.argv[1:])
    pids = [str(p.pid) for p in ctx.session.runtime.procs.live() if p.name in names]
    pids += [str(pid) for pid, _, _, name in SYSTEM_PROCS if name in names]
    if not pids:
        return 1
    ctx.out(" ".join(pids) + "\n")
    return 0


@command("nohup")
def cmd_nohup(ctx: Ctx) -> int:
    """Run a command immune to SIGHUP (stdout is never a terminal over adb, so no nohup.out)."""
    if len(ctx.argv) < 2:
        return ctx.fail("needs 1 argument", 125)
    ctx.argv = ctx.argv[1:]
    ctx.ignore_hup = True
    if ctx.exec_proc is not None:
        ctx.exec_proc.ignore_hup = True
    return ctx.session.run_argv(ctx)


@command("uname")
def cmd_uname(ctx: Ctx) -> int:
    phone = ctx.session.phone
    parts = {
        "s": "Linux",
        "n": phone.props.get("ro.product.device", "localhost"),
        "r": KERNEL_RELEASE,
        "v": KERNEL_VERSION,
        "m": "aarch64",
        "o": "Toybox",
    }
    flags = "".join(a[1:] for a in ctx.argv[1:] if a.startswith("-")) or "s"
    order = "snrvmo" if "a" in flags else "".join(c for c in "snrvmo" if c in flags)
    ctx.out(" ".join(parts[c] for c in order) + "\n")
    return 0


@command("date")
def cmd_date(ctx: Ctx) -> int:
    now = ctx.session.runtime.wall_time_s()
    formats = [a[1:] for a in ctx.argv[1:] if a.startswith("+")]
    fmt = formats[0] if formats else "%a %b %e %H:%M:%S %Z %Y"
    fmt = fmt.replace("%s", str(int(now))).replace("%N", f"{int((now % 1) * 1e9):09d}")
    ctx.out(time.strftime(fmt, time.gmtime(now)).replace("GMT", "UTC") + "\n")
    return 0


def _sh_quote(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_./:=+,@%-]+", text) else "'" + text.replace("'", "'\\''") + "'"
