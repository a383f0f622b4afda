"""The `where=` rule language: a small, closed expression language over the fleet listing. Data, never code.

A rule was once handed to pandas' `eval`, so a colleague's rule could call anything Python reaches
(`name.__class__.__init__.__globals__[...]` ran a shell command during a dry run). Now a rule is parsed with
`ast` and checked against an allow-list before anything is evaluated, and it is evaluated here, node by node,
on pandas columns; nothing of it is ever compiled or executed as Python.

Allowed: column names; literals (text, numbers, True, False, None, and lists or tuples of them); comparisons
(`==`, `!=`, `<`, `<=`, `>`, `>=`, chained too); `in` / `not in` a list literal; `and`, `or`, `not` and
`&`, `|`, `~`; parentheses; and `column.str.<method>(...)` for the methods in `STR_METHODS`, plus
`column.isna()` / `column.notna()`. Anything else (attributes, dunders, subscripts, other calls, lambdas,
comprehensions, f-strings, keyword arguments...) is refused with one sentence.

Missing values never match: a comparison or string test on NA is unknown, `not` of unknown stays unknown,
and a server whose rule is unknown is not selected. Only `isna()` asks about NA on purpose.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from scp_widgets.client.errors import ScpUsageError

MAX_LENGTH = 2_000
MAX_NODES = 400
MAX_DEPTH = 40
#: `column.str.<name>(literal, ...)`: (fewest, most) literal arguments.
STR_METHODS: dict[str, tuple[int, int]] = {
    "startswith": (1, 1), "endswith": (1, 1), "contains": (1, 1),
    "lower": (0, 0), "upper": (0, 0), "strip": (0, 0), "len": (0, 0),
}  # fmt: skip
NA_METHODS = ("isna", "notna")
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_LITERALS = (str, int, float, bool, type(None))
ALLOWED = (
    "columns, literals, comparisons, in [...], and/or/not (& | ~), "
    f"column.str.{{{', '.join(STR_METHODS)}}}(...) and column.isna()/notna()"
)


class RuleError(ScpUsageError):
    """A rule that is refused, does not parse, does not give True/False per server, or matches nothing."""


def _refuse(rule: str, why: str) -> RuleError:
    shown = rule if len(rule) <= 80 else f"{rule[:77]}..."
    return RuleError(f"The rule {shown!r} is refused: {why}; rules may use {ALLOWED}.")


def parse_rule(rule: str) -> ast.Expression:
    """The rule's syntax tree, once every node is on the allow-list; nothing of it has run."""
    if not isinstance(rule, str) or not rule.strip():
        raise RuleError(f"where= needs a rule such as \"state == 'ACTIVE'\", not {rule!r}.")
    if len(rule) > MAX_LENGTH:
        raise _refuse(rule, f"it is longer than {MAX_LENGTH} characters")
    if _bracket_depth(rule) > MAX_DEPTH:  # before ast.parse, which recurses on nesting
        raise _refuse(rule, f"it nests deeper than {MAX_DEPTH} levels")
    try:
        tree = ast.parse(rule.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise RuleError(f"The rule {rule!r} does not parse: {reason}.") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise _refuse(rule, f"it has more than {MAX_NODES} parts")
    _check(tree.body, rule, 0)
    return tree


def _bracket_depth(rule: str) -> int:
    """The deepest nesting of ( and [ outside quotes."""
    depth = deepest = 0
    quote: str | None = None
    for char in rule:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def _check(node: ast.AST, rule: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _refuse(rule, f"it nests deeper than {MAX_DEPTH} levels")
    match node:
        case ast.BoolOp(values=values):
            children: Sequence[ast.AST] = values
        case ast.BinOp(op=ast.BitAnd() | ast.BitOr(), left=left, right=right):
            children = (left, right)
        case ast.UnaryOp(op=ast.Not() | ast.Invert(), operand=operand):
            children = (operand,)
        case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float())):
            return
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            for op, right in zip(ops, comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and not _is_literal_list(right):
                    raise _refuse(rule, "'in' needs a list of literals, like state in ['ACTIVE', 'SHUTOFF']")
                if not isinstance(op, ast.In | ast.NotIn) and type(op) not in _COMPARE:
                    raise _refuse(rule, f"the comparison {type(op).__name__} is not one of == != < <= > >= in")
            children = [left, *(c for c in comparators if not _is_literal_list(c))]
        case ast.Name(id=name) if not name.startswith("_"):
            return
        case ast.Constant(value=value) if isinstance(value, _LITERALS):
            return
        case ast.Call():
            _check_call(node, rule)
            return
        case _:
            raise _refuse(rule, f"{_describe(node)} is not part of the rule language")
    for child in children:
        _check(child, rule, depth + 1)


def _check_call(node: ast.Call, rule: str) -> None:
    """`column.str.method(literals)` or `column.isna()`: any other call, or a keyword, is refused."""
    match node.func:
        case ast.Attribute(value=ast.Attribute(value=ast.Name(id=column), attr="str"), attr=method) if (
            method in STR_METHODS and not column.startswith("_")
        ):
            fewest, most = STR_METHODS[method]
        case ast.Attribute(value=ast.Name(id=column), attr=method) if method in NA_METHODS:
            fewest = most = 0
        case _:
            raise _refuse(rule, f"calling {_describe(node.func)} is not one of the allowed methods")
    if node.keywords:
        raise _refuse(rule, "keyword arguments are not part of the rule language")
    if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        raise _refuse(rule, f".{method}() takes text in quotes, like .{method}('db-')")
    if not fewest <= len(node.args) <= most:
        raise _refuse(rule, f".{method}() takes {most} value{'s' if most != 1 else ''}")


def _is_literal_list(node: ast.AST) -> bool:
    return isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, _LITERALS) for e in node.elts
    )


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"the attribute .{node.attr}"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    return f"a {type(node).__name__}"


# -- evaluation -----------------------------------------------------------------------------------------


def evaluate(frame: pd.DataFrame, tree: ast.Expression, rule: str) -> pd.Series:
    """Which rows of `frame` the (checked) rule selects, as a plain bool Series: unknown is False."""
    value = _Evaluator(frame, rule).value(tree.body)
    if not isinstance(value, pd.Series) or not _is_boolean(value):
        raise RuleError(f"The rule {rule!r} must give True or False for each server, like \"state == 'ACTIVE'\".")
    return value.astype("boolean").fillna(False).astype(bool)


def _is_boolean(series: pd.Series) -> bool:
    return bool(series.dtype == bool or str(series.dtype) == "boolean" or (series.empty and series.dtype == object))


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, rule: str) -> None:
        self.frame = frame
        self.rule = rule

    def value(self, node: ast.AST) -> Any:
        match node:
            case ast.Name(id=name):
                if name not in self.frame.columns:
                    known = ", ".join(map(str, self.frame.columns))
                    raise RuleError(f"The rule {self.rule!r} names {name!r}, which is not a column; columns: {known}.")
                return self.frame[name]
            case ast.Constant(value=value):
                return value
            case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float() as number)):
                return -number
            case ast.UnaryOp(operand=operand):  # not / ~: unknown stays unknown
                return ~self.truth(operand)
            case ast.BoolOp(op=op, values=values):
                parts = [self.truth(v) for v in values]
                combine = operator.and_ if isinstance(op, ast.And) else operator.or_
                result = parts[0]
                for part in parts[1:]:
                    result = combine(result, part)  # Kleene logic on pandas' nullable booleans
                return result
            case ast.BinOp(op=op, left=left, right=right):
                combine = operator.and_ if isinstance(op, ast.BitAnd) else operator.or_
                return combine(self.truth(left), self.truth(right))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self.compare(left, ops, comparators)
            case ast.Call(func=ast.Attribute(value=ast.Attribute(value=column), attr=method), args=args):
                texts = self.value(column).astype("string")
                literals = [a.value for a in args if isinstance(a, ast.Constant)]
                try:
                    if method == "contains":
                        return texts.str.contains(literals[0], regex=False)
                    return getattr(texts.str, method)(*literals)
                except (TypeError, ValueError) as exc:  # never pandas' traceback (the checker should stop it first)
                    raise RuleError(f"The rule {self.rule!r} cannot apply .{method}(): {exc}.") from None
            case ast.Call(func=ast.Attribute(value=column, attr=method)):
                values = self.value(column)
                return (values.isna() if method == "isna" else values.notna()).astype("boolean")
        raise RuleError(f"The rule {self.rule!r} cannot be evaluated.")  # unreachable after _check

    def truth(self, node: ast.AST) -> pd.Series:
        """A part of the rule as nullable booleans (a column used alone, like `locked`, must be true/false)."""
        value = self.value(node)
        if isinstance(value, bool):
            return pd.Series(value, index=self.frame.index, dtype="boolean")
        if not isinstance(value, pd.Series) or not (_is_boolean(value) or value.isna().all()):
            raise RuleError(
                f"The rule {self.rule!r} uses {ast.unparse(node)!r} as true/false, but it is not; compare it, "
                "like \"state == 'ACTIVE'\"."
            )
        return value.astype("boolean")

    def compare(self, left_node: ast.AST, ops: list[ast.cmpop], comparators: list[ast.expr]) -> pd.Series:
        left = self.value(left_node)
        result: pd.Series | None = None
        for op, right_node in zip(ops, comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                choices = [e.value for e in right_node.elts if isinstance(e, ast.Constant)]  # type: ignore[attr-defined]
                series = self._series(left)
                part = series.isin(choices).astype("boolean")
                part = _unknown_where(~part if isinstance(op, ast.NotIn) else part, series.isna())
                right: Any = None
            else:
                right = self.value(right_node)
                part = self._compare(_COMPARE[type(op)], left, right)
            result = part if result is None else result & part
            left = right
        assert result is not None
        return result

    def _compare(self, op: Callable[[Any, Any], Any], left: Any, right: Any) -> pd.Series:
        a, b = self._series(left), self._series(right)
        try:
            outcome = pd.Series(op(a, b), index=self.frame.index).astype("boolean")
        except (TypeError, ValueError) as exc:
            raise RuleError(f"The rule {self.rule!r} compares values that do not compare: {exc}.") from None
        return _unknown_where(outcome, a.isna() | b.isna())  # NA != 'x' is unknown, not True

    def _series(self, value: Any) -> pd.Series:
        if isinstance(value, pd.Series):
            return value
        return pd.Series([value] * len(self.frame), index=self.frame.index, dtype=object)


def _unknown_where(truth: pd.Series, missing: pd.Series) -> pd.Series:
    """`truth` with NA (unknown) wherever a value it was computed from is missing."""
    return truth.mask(missing.to_numpy(dtype=bool), pd.NA)
