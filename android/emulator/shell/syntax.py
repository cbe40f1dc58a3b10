"""Parsing shell text with bashlex, plus what bashlex lacks: `$((...))` arithmetic is rewritten before
parsing into a self-contained placeholder (the expression hex-encoded between two private-use characters)
that word expansion evaluates; incomplete input (an open quote or `do` without `done`) is told apart from
a syntax error so an interactive session can wait for more lines."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import bashlex
import bashlex.errors

ARITH_OPEN, ARITH_CLOSE = "\ue000", "\ue001"


class ShellSyntaxError(Exception):
    """A syntax error; `incomplete` when more input could complete the text."""

    def __init__(self, message: str, incomplete: bool = False):
        super().__init__(message)
        self.incomplete = incomplete


@dataclass(frozen=True)
class Script:
    source: str  # the text the node positions refer to (after the arithmetic rewrite)
    nodes: tuple  # bashlex nodes, one per top-level command line


def parse(text: str) -> Script:
    """Parse shell text (cached: tools send the same commands again and again)."""
    return _parse_cached(text)


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> Script:
    source = rewrite_arithmetic(text)
    if not source.endswith("\n"):
        source += "\n"  # here-documents end at a newline
    if not _has_command(source):
        return Script(source, ())
    try:
        nodes = bashlex.parse(source)
    except bashlex.errors.ParsingError as exc:
        message = str(exc.message if hasattr(exc, "message") else exc)
        incomplete = "unexpected EOF" in message or "delimited by end-of-file" in message
        token = (
            message.split("unexpected token ", 1)[-1].split(" (position")[0] if "unexpected token" in message else ""
        )
        raise ShellSyntaxError(
            f"syntax error: {token} unexpected" if token else f"syntax error: {message}", incomplete
        ) from None
    except NotImplementedError as exc:
        raise ShellSyntaxError(f"syntax error: {exc} is not supported by the virtual phone's shell") from None
    except (AttributeError, IndexError, TypeError):
        # bashlex trips over input that is only blanks and comments between commands
        raise ShellSyntaxError("syntax error: unexpected end of input") from None
    return Script(source, tuple(nodes))


def _has_command(source: str) -> bool:
    """False for text that is only blank lines and comments (bashlex cannot parse those)."""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return True
    return False


def rewrite_arithmetic(text: str) -> str:
    """Replace each `$((expr))` outside single quotes by ARITH_OPEN + hex(expr) + ARITH_CLOSE."""
    if "$((" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    in_single = in_double = False
    while i < n:
        ch = text[i]
        if ch == "\\" and not in_single:
            out.append(text[i : i + 2])
            i += 2
            continue
        if ch == "'" and not in_double:
            in_single = not in_single
        elif ch == '"' and not in_single:
            in_double = not in_double
        elif not in_single and text.startswith("$((", i):
            end = _arith_end(text, i + 3)
            if end < 0:
                raise ShellSyntaxError("syntax error: unterminated $((", incomplete=True)
            expr = rewrite_arithmetic(text[i + 3 : end])
            out.append(ARITH_OPEN + expr.encode().hex() + ARITH_CLOSE)
            i = end + 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _arith_end(text: str, start: int) -> int:
    """Index of the '))' closing an arithmetic expansion whose body starts at `start`, or -1."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            if depth == 0:
                return j if text.startswith("))", j) else -1
            depth -= 1
    return -1
