"""Word expansion from a word's source text: quotes, `$name`/`${...}`, `$(...)` and backticks, `$((...))`,
`~`, field splitting of unquoted results, and globbing against the phone's files."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from android.emulator.shell.arith import evaluate
from android.emulator.shell.syntax import ARITH_CLOSE, ARITH_OPEN

if TYPE_CHECKING:
    from android.emulator.shell.interp import Session

_SPECIAL = set("$'\"\\`~*?[" + ARITH_OPEN)
_PARAM = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!0-])(?P<op>:?[-=+?]|%%?|##?|/)?(?P<word>.*)$", re.S
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IFS = re.compile(r"[ \t\n]+")


class ExpansionError(Exception):
    """`${x:?msg}` and bad substitutions: the command fails with this message."""


@dataclass
class _Piece:
    text: str
    quoted: bool  # no splitting, no globbing
    split: bool = False  # an unquoted expansion result: split on IFS
    field_break: bool = False  # "$@": the next piece starts a new field


class Expander:
    def __init__(self, session: Session):
        self.session = session

    # --- entry points -------------------------------------------------------------------------
    def words(self, raws: list[str]) -> list[str]:
        """Command words: expanded, split and globbed into argv."""
        out: list[str] = []
        for raw in raws:
            if not _SPECIAL.intersection(raw):
                out.append(raw)
                continue
            for text, globbable in self._fields(self._pieces(raw)):
                out.extend(self._glob(text, globbable))
        return out

    def word(self, raw: str) -> str:
        """One word with no splitting or globbing (assignments, redirection targets, case words)."""
        if not _SPECIAL.intersection(raw):
            return raw
        return "".join(p.text for p in self._pieces(raw))

    def text(self, raw: str) -> str:
        """Here-document body: only `$` expansions, backslash escapes and backticks."""
        return "".join(p.text for p in self._pieces(raw, in_dquote=True, heredoc=True))

    # --- scanning -----------------------------------------------------------------------------
    def _pieces(self, raw: str, in_dquote: bool = False, heredoc: bool = False) -> list[_Piece]:
        pieces: list[_Piece] = []
        literal: list[str] = []

        def flush() -> None:
            if literal:
                pieces.append(_Piece("".join(literal), in_dquote))
                literal.clear()

        i, n = 0, len(raw)
        while i < n:
            ch = raw[i]
            if ch == "\\":
                nxt = raw[i + 1] if i + 1 < n else ""
                if in_dquote and nxt not in ("$", "`", '"', "\\", "\n") or (heredoc and nxt == '"'):
                    literal.append("\\")
                    i += 1
                    continue
                flush()
                if nxt != "\n":
                    pieces.append(_Piece(nxt, True))
                i += 2
            elif ch == "'" and not in_dquote:
                end = raw.find("'", i + 1)
                end = n if end < 0 else end
                flush()
                pieces.append(_Piece(raw[i + 1 : end], True))
                i = end + 1
            elif ch == '"' and not in_dquote:
                end = _close_dquote(raw, i + 1)
                flush()
                inner = self._pieces(raw[i + 1 : end], in_dquote=True)
                pieces.append(_Piece("", True))  # "" alone still makes a field
                pieces.extend(inner)
                i = end + 1
            elif ch == "$" and i + 1 < n:
                flush()
                i = self._dollar(raw, i, in_dquote, pieces, literal)
            elif ch == "`":
                end = _close_backtick(raw, i + 1)
                flush()
                body = re.sub(r"\\([$`\\])", r"\1", raw[i + 1 : end])
                pieces.append(_Piece(self.session.capture(body), in_dquote, split=not in_dquote))
                i = end + 1
            elif ch == ARITH_OPEN:
                end = raw.find(ARITH_CLOSE, i)
                flush()
                expr = self.text(bytes.fromhex(raw[i + 1 : end]).decode())
                value = evaluate(expr, lambda name: self.session.lookup(name) or "")
                pieces.append(_Piece(str(value), in_dquote, split=not in_dquote))
                i = end + 1
            elif ch == "~" and i == 0 and not in_dquote:
                end = raw.find("/")
                end = n if end < 0 else end
                user = raw[1:end]
                home = (
                    (self.session.lookup("HOME") or "/") if not user else ("/" if user in ("root", "shell") else None)
                )
                if home is None:
                    literal.append(raw[:end])
                else:
                    flush()
                    pieces.append(_Piece(home, True))
                i = end
            else:
                literal.append(ch)
                i += 1
        flush()
        return pieces

    def _dollar(self, raw: str, i: int, in_dquote: bool, pieces: list[_Piece], literal: list[str]) -> int:
        """Expand the `$...` at raw[i]; returns the index after it."""
        nxt = raw[i + 1]
        if nxt == "(":
            end = _close_paren(raw, i + 2)
            pieces.append(_Piece(self.session.capture(raw[i + 2 : end]), in_dquote, split=not in_dquote))
            return end + 1
        if nxt == "{":
            end = _close_brace(raw, i + 2)
            self._param(raw[i + 2 : end], in_dquote, pieces, braced=True)
            return end + 1
        match = _NAME.match(raw, i + 1)
        if match:
            self._param(match.group(0), in_dquote, pieces)
            return match.end()
        if nxt.isdigit() or nxt in "@*#?$!-":
            self._param(nxt, in_dquote, pieces)
            return i + 2
        literal.append("$")
        return i + 1

    def _param(self, expr: str, in_dquote: bool, pieces: list[_Piece], braced: bool = False) -> None:
        session = self.session
        if braced and expr.startswith("#") and len(expr) > 1:
            value = session.lookup(expr[1:])
            pieces.append(_Piece(str(len(value or "")), in_dquote, split=not in_dquote))
            return
        match = _PARAM.match(expr)
        if not match or (not braced and match.group("op")):
            raise ExpansionError(f"${{{expr}}}: bad substitution")
        name, op, word = match.group("name"), match.group("op"), match.group("word")
        if name in ("@", "*") and not op:
            params = session.positional
            if name == "@" and in_dquote:
                for k, param in enumerate(params):
                    pieces.append(_Piece(param, True, field_break=k > 0))
                return
            joined = " ".join(params)
            pieces.append(_Piece(joined, in_dquote, split=not in_dquote))
            return
        value = session.lookup(name)
        if op is None:
            if word:
                raise ExpansionError(f"${{{expr}}}: bad substitution")
            pieces.append(_Piece(value or "", in_dquote, split=not in_dquote))
            return
        unset = value is None or (op.startswith(":") and value == "")
        if op in (":-", "-"):
            result = self.word(word) if unset else value
        elif op in (":=", "="):
            if unset:
                value = self.word(word)
                session.set_var(name, value)
            result = value
        elif op in (":+", "+"):
            result = "" if unset else self.word(word)
        elif op in (":?", "?"):
            if unset:
                raise ExpansionError(f"{name}: {self.word(word) or 'parameter null or not set'}")
            result = value
        elif op == "/":
            pattern, _, replacement = word.partition("/")
            result = _replace(value or "", self.word(pattern), self.word(replacement))
        else:
            result = _trim(value or "", op, self.word(word))
        pieces.append(_Piece(result or "", in_dquote, split=not in_dquote))

    # --- fields and globbing --------------------------------------------------------------------
    @staticmethod
    def _fields(pieces: list[_Piece]) -> list[tuple[str, list[bool]]]:
        """Assemble pieces into fields: (text, per-character 'may glob' flags)."""
        fields: list[tuple[str, list[bool]]] = []
        text: list[str] = []
        flags: list[bool] = []
        started = False

        def finish() -> None:
            nonlocal started
            if started or text:
                fields.append(("".join(text), flags.copy()))
            text.clear()
            flags.clear()
            started = False

        for piece in pieces:
            if piece.field_break:
                finish()
            if piece.split:
                if not piece.text:
                    continue
                parts = _IFS.split(piece.text)
                for k, part in enumerate(parts):
                    if k > 0:
                        finish()
                    if part:
                        text.append(part)
                        flags.extend([True] * len(part))
                        started = True
                continue
            if piece.quoted:
                started = True
            text.append(piece.text)
            flags.extend([not piece.quoted] * len(piece.text))
        finish()
        return fields

    def _glob(self, text: str, globbable: list[bool]) -> list[str]:
        if not any(g and ch in "*?[" for ch, g in zip(text, globbable)):
            return [text]
        pattern = "".join(ch if g or ch not in "*?[]" else f"[{ch}]" for ch, g in zip(text, globbable))
        matches = _glob_fs(self.session, pattern)
        return matches or [text]


def _glob_fs(session: Session, pattern: str) -> list[str]:
    fs = session.phone.fs
    absolute = pattern.startswith("/")
    parts = [p for p in pattern.split("/") if p]
    paths = ["/" if absolute else ""]
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        nxt: list[str] = []
        for base in paths:
            if not any(c in part for c in "*?["):
                candidate = posixpath.join(base, part) if base else part
                if fs.exists(session.abspath(candidate)):
                    nxt.append(candidate)
                continue
            directory = session.abspath(base or ".")
            if not fs.is_dir(directory):
                continue
            for name in fs.listdir(directory):
                if name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(name, part):
                    candidate = posixpath.join(base, name) if base else name
                    if last or fs.is_dir(session.abspath(candidate)):
                        nxt.append(candidate)
        paths = nxt
    return sorted(paths)


def _close_dquote(raw: str, i: int) -> int:
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        if ch == "$" and raw.startswith("$(", i):
            i = _close_paren(raw, i + 2) + 1
            continue
        if ch == "$" and raw.startswith("${", i):
            i = _close_brace(raw, i + 2) + 1
            continue
        if ch == "`":
            i = _close_backtick(raw, i + 1) + 1
            continue
        i += 1
    return n


def _close_backtick(raw: str, i: int) -> int:
    n = len(raw)
    while i < n:
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == "`":
            return i
        i += 1
    return n


def _close_paren(raw: str, i: int) -> int:
    """Index of the ')' closing a `$(` whose body starts at i (quotes and nesting respected)."""
    return _close(raw, i, "(", ")")


def _close_brace(raw: str, i: int) -> int:
    return _close(raw, i, "{", "}")


def _close(raw: str, i: int, opening: str, closing: str) -> int:
    depth, n = 1, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            end = raw.find("'", i + 1)
            i = n if end < 0 else end + 1
            continue
        if ch == '"':
            i = _close_dquote(raw, i + 1) + 1
            continue
        if ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _pattern_regex(pattern: str, greedy: bool) -> str:
    body = re.fullmatch(r"\(\?s:(.*)\)\\[Zz]", fnmatch.translate(pattern), re.S).group(1)
    return body if greedy else body.replace(".*", ".*?")


def _trim(value: str, op: str, pattern: str) -> str:
    greedy = op in ("%%", "##")
    if op.startswith("#"):
        match = re.match(_pattern_regex(pattern, greedy), value, re.S)
        return value[match.end() :] if match else value
    # suffix: try start positions from the right (shortest) or from the left (longest)
    starts = range(len(value) + 1) if greedy else range(len(value), -1, -1)
    for start in starts:
        if fnmatch.fnmatchcase(value[start:], pattern):
            return value[:start]
    return value


def _replace(value: str, pattern: str, replacement: str) -> str:
    everywhere = pattern.startswith("/")
    pattern = pattern[1:] if everywhere else pattern
    regex = re.compile(_pattern_regex(pattern, True), re.S)
    return regex.sub(lambda m: replacement, value, count=0 if everywhere else 1)
