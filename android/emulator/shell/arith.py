"""Shell arithmetic `$((expr))`: C integer semantics over 64-bit signed values, variables by bare name."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable

_TOKEN = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+|[A-Za-z_][A-Za-z0-9_]*|<<|>>|<=|>=|==|!=|&&|\|\||\*\*|\S")


class ArithmeticError_(Exception):
    pass


def _c_div(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError_("division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int:
    return a - b * _c_div(a, b)


_BINOPS: dict[type, Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _c_div,
    ast.FloorDiv: _c_div,
    ast.Mod: _c_mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_CMPOPS: dict[type, Callable[[int, int], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def evaluate(expr: str, lookup: Callable[[str], str]) -> int:
    """Evaluate an arithmetic expression; `lookup(name)` gives a variable's text ('' when unset)."""
    pieces = []
    for token in _TOKEN.findall(expr):
        if token[0].isdigit():
            pieces.append(
                str(
                    int(token, 16)
                    if token[:2].lower() == "0x"
                    else int(token, 8)
                    if len(token) > 1 and token[0] == "0"
                    else int(token)
                )
            )
        elif token[0].isalpha() or token[0] == "_":
            pieces.append(f"_v_{token}")
        else:
            pieces.append({"&&": " and ", "||": " or ", "!": " not "}.get(token, token))
    text = " ".join(pieces).strip() or "0"
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ArithmeticError_(f"{expr.strip()}: syntax error") from None
    return _wrap64(_eval(tree.body, lookup, expr))


def _wrap64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _eval(node: ast.AST, lookup: Callable[[str], str], expr: str) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return int(node.value)
    if isinstance(node, ast.Name) and node.id.startswith("_v_"):
        text = lookup(node.id[3:]).strip()
        if not text:
            return 0
        try:
            return int(text, 0) if not text.lstrip("-").startswith("0") or text.lstrip("-") == "0" else int(text, 8)
        except ValueError:
            return evaluate(text, lookup)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, lookup, expr), _eval(node.right, lookup, expr))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, lookup, expr)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Invert):
            return ~value
        if isinstance(node.op, ast.Not):
            return int(not value)
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, lookup, expr) for v in node.values)
        return int(all(values)) if isinstance(node.op, ast.And) else int(any(values))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, lookup, expr)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, lookup, expr)
            if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                return 0
            left = right
        return 1
    raise ArithmeticError_(f"{expr.strip()}: syntax error")
