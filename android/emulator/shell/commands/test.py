"""`test` / `[`: file tests against the phone's files (with the caller's permissions), string and
integer comparisons, `!`, `-a`, `-o` and parentheses."""

from __future__ import annotations

import stat as stat_mod

from android.emulator.shell import fileops
from android.emulator.shell.interp import Ctx, command
from android.emulator.vfs import Attr
from android.errors import DeviceError

_INT_OPS = {
    "-eq": lambda a, b: a == b,
    "-ne": lambda a, b: a != b,
    "-lt": lambda a, b: a < b,
    "-le": lambda a, b: a <= b,
    "-gt": lambda a, b: a > b,
    "-ge": lambda a, b: a >= b,
}
_STR_OPS = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}
_FILE_OPS = set("efdrwxsLhpcbSugk")


class _TestError(Exception):
    pass


@command("test", "[")
def cmd_test(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    if ctx.argv[0] == "[":
        if not args or args[-1] != "]":
            return ctx.fail("missing ]", 2)
        args = args[:-1]
    try:
        parser = _Parser(ctx, args)
        result = parser.expr()
        if parser.pos != len(args):
            raise _TestError(f"{args[parser.pos]}: unexpected operator")
    except _TestError as exc:
        return ctx.fail(str(exc), 2)
    return 0 if result else 1


class _Parser:
    def __init__(self, ctx: Ctx, args: list[str]):
        self.ctx, self.args, self.pos = ctx, args, 0

    def _peek(self, k: int = 0) -> str | None:
        return self.args[self.pos + k] if self.pos + k < len(self.args) else None

    def _take(self) -> str:
        if self.pos >= len(self.args):
            raise _TestError("argument expected")
        self.pos += 1
        return self.args[self.pos - 1]

    def expr(self) -> bool:
        if not self.args:
            return False
        result = self._and()
        while self._peek() == "-o":
            self.pos += 1
            result = self._and() or result
        return result

    def _and(self) -> bool:
        result = self._not()
        while self._peek() == "-a":
            self.pos += 1
            result = self._not() and result
        return result

    def _not(self) -> bool:
        if self._peek() == "!" and self._peek(1) is not None:
            self.pos += 1
            return not self._not()
        return self._primary()

    def _primary(self) -> bool:
        token = self._take()
        if token == "(" and ")" in self.args[self.pos :]:
            result = self.expr()
            if self._take() != ")":
                raise _TestError("missing )")
            return result
        nxt = self._peek()
        if nxt in _STR_OPS and self._peek(1) is not None:
            self.pos += 1
            return _STR_OPS[nxt](token, self._take())
        if nxt in _INT_OPS and self._peek(1) is not None:
            self.pos += 1
            return _INT_OPS[nxt](_int(token), _int(self._take()))
        if token in ("-n", "-z") and nxt is not None:
            value = self._take()
            return bool(value) if token == "-n" else not value
        if len(token) == 2 and token[0] == "-" and token[1] in _FILE_OPS and nxt is not None:
            return self._file(token[1], self._take())
        return bool(token)

    def _file(self, op: str, path: str) -> bool:
        session = self.ctx.session
        fs = session.phone.fs
        full = session.abspath(path)
        try:
            st = fileops.stat(fs, full, follow=op not in "Lh")
        except DeviceError:
            return False
        mode = st.mode
        if op == "e":
            return True
        if op == "f":
            return stat_mod.S_ISREG(mode)
        if op == "d":
            return stat_mod.S_ISDIR(mode)
        if op in "Lh":
            return stat_mod.S_ISLNK(mode)
        if op == "s":
            return st.size > 0
        if op in "rwx":
            bit = {"r": 0o4, "w": 0o2, "x": 0o1}[op]
            node = fs.node(full)
            if op == "w" and isinstance(node, Attr) and node.store is None:
                return False
            if session.uid == 0:
                return op != "x" or bool(mode & 0o111) or stat_mod.S_ISDIR(mode)
            return fs.may(node, session.uid, bit)
        if op == "u":
            return bool(mode & stat_mod.S_ISUID)
        if op == "g":
            return bool(mode & stat_mod.S_ISGID)
        if op == "k":
            return bool(mode & stat_mod.S_ISVTX)
        if op == "p":
            return stat_mod.S_ISFIFO(mode)
        return False  # no sockets or device nodes on the virtual phone's files


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise _TestError(f"{text}: bad number") from None
