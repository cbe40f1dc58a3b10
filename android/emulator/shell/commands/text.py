"""Text commands: echo, printf, grep, head, tail, wc, seq, cut, tr. They work on bytes, line by line."""

from __future__ import annotations

import re

from android.emulator.shell import fileops
from android.emulator.shell.commands.files import split_flags
from android.emulator.shell.interp import Ctx, command
from android.errors import DeviceError

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "e": "\x1b"}
_ESCAPE_RE = re.compile(r"\\(0[0-7]{0,3}|x[0-9a-fA-F]{1,2}|.)", re.S)


def unescape(text: str) -> tuple[str, bool]:
    """Backslash escapes as `echo -e` and printf formats read them; True when `\\c` stops output."""
    out: list[str] = []
    pos = 0
    for match in _ESCAPE_RE.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        code = match.group(1)
        if code == "c":
            return "".join(out), True
        if code[0] == "0":
            out.append(chr(int(code, 8)))
        elif code[0] == "x" and len(code) > 1:
            out.append(chr(int(code[1:], 16)))
        else:
            out.append(_ESCAPES.get(code, "\\" + code))
    out.append(text[pos:])
    return "".join(out), False


@command("echo")
def cmd_echo(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = ("e" in args[0]) or (escapes and "E" not in args[0])
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stopped = unescape(text)
        newline = newline and not stopped
    ctx.out(text + ("\n" if newline else ""))
    return 0


_FORMAT_RE = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfgGcsb%])")


@command("printf")
def cmd_printf(ctx: Ctx) -> int:
    if len(ctx.argv) < 2:
        return ctx.fail("needs 1 argument")
    fmt, args = ctx.argv[1], list(ctx.argv[2:])
    status = 0
    out: list[str] = []
    while True:
        consumed = 0

        def take() -> str:
            nonlocal consumed
            consumed += 1
            return args.pop(0) if args else ""

        pieces: list[str] = []
        pos = 0
        for match in _FORMAT_RE.finditer(fmt):
            pieces.append(unescape(fmt[pos : match.start()])[0])
            pos = match.end()
            flags, width, precision, conv = match.groups()
            if conv == "%":
                pieces.append("%")
                continue
            width = take() if width == "*" else width
            precision = take() if precision == "*" else precision
            spec = "%" + flags + (width or "") + (f".{precision}" if precision is not None else "")
            arg = take()
            if conv in "diouxXc" and conv != "c":
                try:
                    value = int(arg, 0) if arg.strip() else 0
                except ValueError:
                    value = ord(arg[1]) if arg[:1] in "'\"" and len(arg) > 1 else 0
                    if arg[:1] not in "'\"":
                        ctx.fail(f"invalid number '{arg}'")
                        status = 1
                pieces.append((spec + ("d" if conv in "iu" else conv)) % value)
            elif conv in "eEfgG":
                try:
                    value_f = float(arg) if arg.strip() else 0.0
                except ValueError:
                    ctx.fail(f"invalid number '{arg}'")
                    value_f, status = 0.0, 1
                pieces.append((spec + conv) % value_f)
            elif conv == "c":
                pieces.append((spec + "s") % arg[:1])
            elif conv == "b":
                pieces.append((spec + "s") % unescape(arg)[0])
            else:
                pieces.append((spec + "s") % arg)
        pieces.append(unescape(fmt[pos:])[0])
        out.append("".join(pieces))
        if not args or consumed == 0:
            break
    ctx.out("".join(out))
    return status


def _inputs(ctx: Ctx, paths: list[str]) -> tuple[list[tuple[str, bytes]], int]:
    """The named files' contents (or stdin), and 1 if any could not be read."""
    session = ctx.session
    contents: list[tuple[str, bytes]] = []
    status = 0
    for path in paths or ["-"]:
        if path == "-":
            contents.append(("(standard input)", ctx.io.stdin.read()))
            continue
        try:
            contents.append((path, session.phone.fs.read(session.abspath(path), session.uid)))
        except DeviceError as exc:
            status = ctx.fail(f"{path}: {fileops.error_text(exc)}")
    return contents, status


def _lines(data: bytes) -> list[bytes]:
    """Lines with their newline kept; a last line without newline is still a line."""
    return data.splitlines(keepends=True)


def bre_to_python(pattern: str) -> str:
    """POSIX basic regex -> Python regex: \\( \\) \\{ \\} \\| \\+ \\? are operators, bare ones literal."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + ch if ch in "(){}|+?" else ch)
        i += 1
    return "".join(out)


@command("grep", "egrep", "fgrep")
def cmd_grep(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    flags: set[str] = {"E"} if ctx.argv[0] == "egrep" else {"F"} if ctx.argv[0] == "fgrep" else set()
    patterns: list[str] = []
    operands: list[str] = []
    max_count = -1
    while args:
        arg = args.pop(0)
        if arg == "--":
            operands.extend(args)
            break
        if arg in ("-e", "--regexp") and args:
            patterns.append(args.pop(0))
        elif arg == "-m" and args:
            max_count = int(args.pop(0))
        elif arg.startswith("-") and len(arg) > 1 and all(c in "vicnEFqsowlhHx" for c in arg[1:]):
            flags.update(arg[1:])
        else:
            operands.append(arg)
    if not patterns:
        if not operands:
            return ctx.fail("no pattern", 2)
        patterns.append(operands.pop(0))
    sources = []
    for p in patterns:
        for alt in p.split("\n"):
            body = re.escape(alt) if "F" in flags else alt if "E" in flags else bre_to_python(alt)
            if "w" in flags:
                body = rf"\b(?:{body})\b"
            if "x" in flags:
                body = rf"^(?:{body})$"
            sources.append(body)
    try:
        regex = re.compile("|".join(f"(?:{s})" for s in sources).encode(), re.I if "i" in flags else 0)
    except re.error as exc:
        return ctx.fail(f"bad regex '{patterns[0]}': {exc}", 2)
    contents, status = _inputs(ctx, operands)
    show_names = ("H" in flags or len(contents) > 1) and "h" not in flags
    invert = "v" in flags
    matched_any = False
    for name, data in contents:
        count = 0
        for number, line in enumerate(_lines(data), 1):
            body = line.rstrip(b"\n")
            found = regex.search(body) is not None
            if found == invert:
                continue
            count += 1
            matched_any = True
            if "q" in flags:
                return 0
            if "l" in flags:
                break
            if "c" not in flags:
                prefix = (f"{name}:" if show_names else "") + (f"{number}:" if "n" in flags else "")
                if "o" in flags and not invert:
                    for m in regex.finditer(body):
                        ctx.out(prefix.encode() + m.group(0) + b"\n")
                else:
                    ctx.out(prefix.encode() + body + b"\n")
            if count == max_count:
                break
        if "l" in flags and count:
            ctx.out(f"{name}\n")
        elif "c" in flags:
            ctx.out((f"{name}:" if show_names else "") + f"{count}\n")
    if status and "s" not in flags:
        return 2
    return 0 if matched_any else 1


def _head_tail_args(ctx: Ctx) -> tuple[int, bool, bool, list[str]]:
    """(count, count_bytes, from_start '+N', files) from -n N / -c N / -N."""
    args = ctx.argv[1:]
    count, by_bytes, from_start = 10, False, False
    files: list[str] = []
    while args:
        arg = args.pop(0)
        if arg in ("-n", "-c") and args:
            value = args.pop(0)
            by_bytes = arg == "-c"
        elif re.fullmatch(r"-[nc][+-]?\d+", arg):
            value, by_bytes = arg[2:], arg[1] == "c"
        elif re.fullmatch(r"-\d+", arg):
            value = arg[1:]
        elif arg in ("-q", "-v", "-f"):
            continue
        else:
            files.append(arg)
            continue
        from_start = value.startswith("+")
        count = abs(int(value))
    return count, by_bytes, from_start, files


@command("head")
def cmd_head(ctx: Ctx) -> int:
    count, by_bytes, _, files = _head_tail_args(ctx)
    contents, status = _inputs(ctx, files)
    for k, (name, data) in enumerate(contents):
        if len(contents) > 1:
            ctx.out(("\n" if k else "") + f"==> {name} <==\n")
        ctx.out(data[:count] if by_bytes else b"".join(_lines(data)[:count]))
    return status


@command("tail")
def cmd_tail(ctx: Ctx) -> int:
    count, by_bytes, from_start, files = _head_tail_args(ctx)
    contents, status = _inputs(ctx, files)
    for k, (name, data) in enumerate(contents):
        if len(contents) > 1:
            ctx.out(("\n" if k else "") + f"==> {name} <==\n")
        if by_bytes:
            ctx.out(data[max(count - 1, 0) :] if from_start else data[-count:] if count else b"")
        else:
            lines = _lines(data)
            ctx.out(b"".join(lines[max(count - 1, 0) :] if from_start else lines[-count:] if count else []))
    return status


@command("wc")
def cmd_wc(ctx: Ctx) -> int:
    flags, files = split_flags(ctx.argv, "lwcm")
    flags = flags or {"l", "w", "c"}
    contents, status = _inputs(ctx, files)
    totals = [0, 0, 0]
    for name, data in contents:
        counts = [data.count(b"\n"), len(data.split()), len(data)]
        totals = [t + c for t, c in zip(totals, counts)]
        shown = [str(c) for c, f in zip(counts, "lwc") if f in flags or (f == "c" and "m" in flags)]
        ctx.out(" ".join(shown) + (f" {name}" if files else "") + "\n")
    if len(contents) > 1:
        shown = [str(c) for c, f in zip(totals, "lwc") if f in flags]
        ctx.out(" ".join(shown) + " total\n")
    return status


@command("seq")
def cmd_seq(ctx: Ctx) -> int:
    try:
        numbers = [float(a) if "." in a else int(a) for a in ctx.argv[1:]]
    except ValueError:
        return ctx.fail(f"invalid number in {' '.join(ctx.argv[1:])}")
    if not 1 <= len(numbers) <= 3:
        return ctx.fail("needs 1 to 3 arguments")
    first, step, last = (
        (1, 1, numbers[0])
        if len(numbers) == 1
        else (numbers[0], 1, numbers[1])
        if len(numbers) == 2
        else tuple(numbers)
    )
    if step == 0:
        return ctx.fail("step must not be 0")
    values = []
    value = first
    while (value <= last) if step > 0 else (value >= last):
        values.append(f"{value:g}" if isinstance(value, float) else str(value))
        value += step
    ctx.out("".join(v + "\n" for v in values))
    return 0


@command("cut")
def cmd_cut(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    delimiter, fields, chars, files = "\t", "", "", []
    while args:
        arg = args.pop(0)
        if arg.startswith("-d"):
            delimiter = arg[2:] or args.pop(0)
        elif arg.startswith("-f"):
            fields = arg[2:] or args.pop(0)
        elif arg.startswith("-c"):
            chars = arg[2:] or args.pop(0)
        else:
            files.append(arg)
    spec = fields or chars
    if not spec:
        return ctx.fail("needs -f or -c")
    wanted = _ranges(spec)
    contents, status = _inputs(ctx, files)
    for _, data in contents:
        for line in data.decode(errors="replace").splitlines():
            if fields:
                parts = line.split(delimiter)
                if len(parts) == 1:
                    ctx.out(line + "\n")
                    continue
                ctx.out(delimiter.join(p for k, p in enumerate(parts, 1) if wanted(k)) + "\n")
            else:
                ctx.out("".join(c for k, c in enumerate(line, 1) if wanted(k)) + "\n")
    return status


def _ranges(spec: str):
    bounds = []
    for part in spec.split(","):
        low, dash, high = part.partition("-")
        bounds.append((int(low or 1), int(high) if high else (10**9 if dash else int(low))))
    return lambda k: any(lo <= k <= hi for lo, hi in bounds)


@command("tr")
def cmd_tr(ctx: Ctx) -> int:
    flags, sets = split_flags(ctx.argv, "ds")
    data = ctx.io.stdin.read().decode(errors="replace")
    if not sets:
        return ctx.fail("needs at least 1 argument")
    source = unescape(sets[0])[0]
    if "d" in flags:
        ctx.out("".join(c for c in data if c not in source))
        return 0
    target = unescape(sets[1])[0] if len(sets) > 1 else ""
    if not target:
        return ctx.fail("needs 2 arguments")
    target = target + target[-1] * (len(source) - len(target))
    table = str.maketrans(source, target[: len(source)])
    out = data.translate(table)
    if "s" in flags:
        out = re.sub("([" + re.escape(target) + "])\\1+", r"\1", out)
    ctx.out(out)
    return 0
