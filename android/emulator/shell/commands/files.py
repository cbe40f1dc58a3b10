"""File commands (toybox's, as on Android): cat, ls, cd/pwd, mkdir, rm, rmdir, mv, cp, chmod, touch,
basename/dirname, and running a file on the phone (a pushed shell or Python script)."""

from __future__ import annotations

import posixpath
import stat as stat_mod
import time
from collections.abc import Callable

from android.emulator.shell import fileops
from android.emulator.shell.interp import EXEC_FILE, SH, Ctx, command
from android.emulator.shell.procs import user_name
from android.emulator.vfs import Dir
from android.errors import DeviceError


def split_flags(argv: list[str], known: str) -> tuple[set[str], list[str]]:
    """Single-letter flags (combinable: -la) before the operands; `--` ends them."""
    flags: set[str] = set()
    args: list[str] = []
    it = iter(argv[1:])
    for arg in it:
        if arg == "--":
            args.extend(it)
            break
        if arg.startswith("-") and len(arg) > 1 and all(c in known for c in arg[1:]):
            flags.update(arg[1:])
        else:
            args.append(arg)
    return flags, args


def _each(ctx: Ctx, paths: list[str], action: Callable[[str], None]) -> int:
    """Apply `action` to every operand; a failing one prints `cmd: path: reason` and the rest go on,
    as toybox does. Returns the exit status."""
    status = 0
    for path in paths:
        try:
            action(path)
        except FileExistsError:
            status = ctx.fail(f"{path}: File exists")
        except DeviceError as exc:
            status = ctx.fail(f"{path}: {fileops.error_text(exc)}")
        except OSError as exc:
            status = ctx.fail(f"{path}: {exc.strerror}")
    return status


@command("cat")
def cmd_cat(ctx: Ctx) -> int:
    _, paths = split_flags(ctx.argv, "uvetAs")
    session = ctx.session

    def cat(path: str) -> None:
        ctx.out(ctx.io.stdin.read() if path == "-" else session.phone.fs.read(session.abspath(path), session.uid))

    return _each(ctx, paths or ["-"], cat)


@command("ls")
def cmd_ls(ctx: Ctx) -> int:
    flags, paths = split_flags(ctx.argv, "laA1dRpFnhSt")
    session = ctx.session
    fs = session.phone.fs
    status = 0
    listings: list[tuple[str, list[str]]] = []
    files: list[str] = []
    for path in paths or ["."]:
        full = session.abspath(path)
        try:
            st = fileops.stat(fs, full)
        except DeviceError as exc:
            status = ctx.fail(f"{path}: {fileops.error_text(exc)}")
            continue
        if stat_mod.S_ISDIR(st.mode) and "d" not in flags:
            node = fs.node(full)
            if isinstance(node, Dir) and not fs.may(node, session.uid, 0o4):
                status = ctx.fail(f"{path}: Permission denied")
                continue
            names = fs.listdir(full)
            if "a" not in flags and "A" not in flags:
                names = [n for n in names if not n.startswith(".")]
            if "a" in flags:
                names = [".", "..", *names]
            listings.append((path, names))
        else:
            files.append(path)
    blocks: list[str] = []
    if files:
        blocks.append("".join(_ls_line(ctx, flags, session.abspath(p), p) for p in files))
    for path, names in listings:
        body = "".join(_ls_line(ctx, flags, session.abspath(posixpath.join(path, n)), n) for n in names)
        if len(listings) + bool(files) > 1:
            body = f"{path}:\n{body}"
        blocks.append(body)
    ctx.out("\n".join(blocks))
    return status


def _ls_line(ctx: Ctx, flags: set[str], full: str, shown: str) -> str:
    fs = ctx.session.phone.fs
    try:
        st = fileops.stat(fs, full, follow=False)
    except DeviceError:
        st = None
    suffix = "/" if ("p" in flags or "F" in flags) and st and stat_mod.S_ISDIR(st.mode) else ""
    if "l" not in flags or st is None:
        return f"{shown}{suffix}\n"
    owner = str(st.uid) if "n" in flags else user_name(st.uid)
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(st.mtime_s))
    link = ""
    if stat_mod.S_ISLNK(st.mode):
        node = fileops._lnode(fs, full)
        link = f" -> {node.target}"  # type: ignore[attr-defined]
    return f"{fileops.mode_string(st.mode)} {st.nlink} {owner} {owner} {st.size:>5} {when} {shown}{suffix}{link}\n"


@command("cd")
def cmd_cd(ctx: Ctx) -> int:
    session = ctx.session
    target = ctx.argv[1] if len(ctx.argv) > 1 else (session.lookup("HOME") or "/")
    if target == "-":
        target = session.lookup("OLDPWD") or session.cwd
    full = session.abspath(target)
    if not session.phone.fs.is_dir(full):
        reason = "Not a directory" if session.phone.fs.exists(full) else "No such file or directory"
        ctx.err(f"{SH}: cd: {target}: {reason}\n")
        return 1
    session.set_var("OLDPWD", session.cwd)
    session.cwd = full
    session.set_var("PWD", full)
    return 0


@command("pwd")
def cmd_pwd(ctx: Ctx) -> int:
    ctx.out(ctx.session.cwd + "\n")
    return 0


@command("mkdir")
def cmd_mkdir(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    parents, mode = False, 0o755
    operands = []
    while args:
        arg = args.pop(0)
        if arg == "-p":
            parents = True
        elif arg == "-m" and args:
            mode = int(args.pop(0), 8)
        else:
            operands.append(arg)
    session = ctx.session
    return _each(
        ctx, operands, lambda path: fileops.mkdir(session.phone.fs, session.abspath(path), session.uid, mode, parents)
    )


@command("mkfifo")
def cmd_mkfifo(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    mode = 0o666 & ~0o022  # the shell's umask
    if args[:1] == ["-m"] and len(args) > 1:
        try:
            mode = int(args[1], 8)
        except ValueError:
            return ctx.fail(f"bad mode '{args[1]}'")
        args = args[2:]
    if not args:
        return ctx.fail("Need 1 argument")
    session = ctx.session
    return _each(ctx, args, lambda path: session.phone.fs.mkfifo(session.abspath(path), mode, session.uid))


@command("rm")
def cmd_rm(ctx: Ctx) -> int:
    flags, paths = split_flags(ctx.argv, "frRiv")
    session = ctx.session
    fs = session.phone.fs
    status = 0
    for path in paths:
        full = session.abspath(path)
        try:
            if fs.is_dir(full) and not stat_mod.S_ISLNK(fileops.stat(fs, full, follow=False).mode):
                if not flags & {"r", "R"}:
                    status = ctx.fail(f"{path}: Is a directory")
                    continue
                _remove_tree(fs, full, session.uid)
            else:
                fileops.remove_file(fs, full, session.uid)
        except DeviceError as exc:
            if "f" in flags and not fs.exists(full):
                continue
            status = ctx.fail(f"{path}: {fileops.error_text(exc)}")
    return status


def _remove_tree(fs, path: str, uid: int) -> None:
    for name in fs.listdir(path):
        child = posixpath.join(path, name)
        if fs.is_dir(child) and not stat_mod.S_ISLNK(fileops.stat(fs, child, follow=False).mode):
            _remove_tree(fs, child, uid)
        else:
            fs.remove(child, uid)
    fs.remove(path, uid)


@command("rmdir")
def cmd_rmdir(ctx: Ctx) -> int:
    session = ctx.session
    return _each(ctx, ctx.argv[1:], lambda path: fileops.rmdir(session.phone.fs, session.abspath(path), session.uid))


@command("mv")
def cmd_mv(ctx: Ctx) -> int:
    _, paths = split_flags(ctx.argv, "fin")
    if len(paths) < 2:
        return ctx.fail("needs 2 arguments")
    session = ctx.session
    target = session.abspath(paths[-1])
    return _each(
        ctx, paths[:-1], lambda path: fileops.rename(session.phone.fs, session.abspath(path), target, session.uid)
    )


@command("cp")
def cmd_cp(ctx: Ctx) -> int:
    _, paths = split_flags(ctx.argv, "fpaRrv")
    if len(paths) < 2:
        return ctx.fail("needs 2 arguments")
    session = ctx.session
    fs = session.phone.fs
    target = session.abspath(paths[-1])

    def copy(path: str) -> None:
        dest = posixpath.join(target, posixpath.basename(path)) if fs.is_dir(target) else target
        fs.write(dest, fs.read(session.abspath(path), session.uid), session.uid)

    return _each(ctx, paths[:-1], copy)


@command("chmod")
def cmd_chmod(ctx: Ctx) -> int:
    _, args = split_flags(ctx.argv, "Rfv")
    if len(args) < 2:
        return ctx.fail("needs 2 arguments")
    mode_text, paths = args[0], args[1:]
    session = ctx.session
    fs = session.phone.fs
    status = 0
    for path in paths:
        full = session.abspath(path)
        try:
            current = fileops.stat(fs, full).mode & 0o7777
            fs.chmod(full, _parse_mode(mode_text, current), session.uid)
        except ValueError:
            return ctx.fail(f"bad mode '{mode_text}'")
        except DeviceError as exc:
            status = ctx.fail(f"{path}: {fileops.error_text(exc)}")
    return status


def _parse_mode(text: str, current: int) -> int:
    """Octal (755) or symbolic (u+x, +x, go-w, a=r) modes."""
    if text.isdigit():
        return int(text, 8)
    mode = current
    for clause in text.split(","):
        who = ""
        while clause and clause[0] in "ugoa":
            who, clause = who + clause[0], clause[1:]
        if not clause or clause[0] not in "+-=":
            raise ValueError(text)
        op, perms = clause[0], clause[1:]
        who = who.replace("a", "ugo") or "ugo"
        bits = 0
        for w in who:
            shift = {"u": 6, "g": 3, "o": 0}[w]
            for p in perms:
                bits |= {"r": 4, "w": 2, "x": 1}[p] << shift
        mask = sum(7 << {"u": 6, "g": 3, "o": 0}[w] for w in who)
        mode = mode | bits if op == "+" else mode & ~bits if op == "-" else (mode & ~mask) | bits
    return mode


@command("touch")
def cmd_touch(ctx: Ctx) -> int:
    _, paths = split_flags(ctx.argv, "acm")
    session = ctx.session
    return _each(ctx, paths, lambda path: session.phone.fs.write(session.abspath(path), b"", session.uid, append=True))


@command("basename")
def cmd_basename(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return ctx.fail("missing operand")
    name = posixpath.basename(ctx.argv[1].rstrip("/")) or "/"
    if len(ctx.argv) > 2 and name.endswith(ctx.argv[2]) and name != ctx.argv[2]:
        name = name[: -len(ctx.argv[2])]
    ctx.out(name + "\n")
    return 0


@command("dirname")
def cmd_dirname(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return ctx.fail("missing operand")
    ctx.out((posixpath.dirname(ctx.argv[1].rstrip("/")) or ".") + "\n")
    return 0


@command(EXEC_FILE)
def cmd_exec_file(ctx: Ctx) -> int:
    """`./x.sh` or `/data/local/tmp/x.py`: needs the execute bit; `#!` picks sh or python3."""
    session = ctx.session
    path = ctx.argv[0]
    full = session.abspath(path)
    fs = session.phone.fs
    try:
        st = fileops.stat(fs, full)
    except DeviceError:
        ctx.err(f"{SH}: {path}: inaccessible or not found\n")
        return 127
    if stat_mod.S_ISDIR(st.mode):
        ctx.err(f"{SH}: {path}: can't execute: Is a directory\n")
        return 126
    allowed = st.mode & 0o111 if session.uid == 0 else st.mode & (0o100 if st.uid == session.uid else 0o001)
    if not allowed:
        ctx.err(f"{SH}: {path}: can't execute: Permission denied\n")
        return 126
    try:
        head = fs.read(full, session.uid)[:256].split(b"\n", 1)[0].decode(errors="replace")
    except DeviceError as exc:
        ctx.err(f"{SH}: {path}: can't execute: {fileops.error_text(exc)}\n")
        return 126
    interpreter = head[2:].split() if head.startswith("#!") else []
    if interpreter and posixpath.basename(interpreter[0]) == "env" and len(interpreter) > 1:
        interpreter = interpreter[1:]
    program = posixpath.basename(interpreter[0]) if interpreter else "sh"
    if program.startswith("python"):
        ctx.argv = ["python3", *interpreter[1:], full, *ctx.argv[1:]]
    elif program in ("sh", "mksh", "bash", "ash"):
        ctx.argv = ["sh", full, *ctx.argv[1:]]
    else:
        ctx.err(f"{SH}: {path}: No such file or directory\n")
        return 127
    return session.run_argv(ctx)
