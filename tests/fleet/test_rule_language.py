"""`where=` rules are data, never code: a closed expression language, checked before anything runs.

A colleague's rule `name.__class__.__init__.__globals__['sys'].modules['os'].system('id')` once ran a shell
command through pandas eval during a dry run. Every hostile rule below is refused in one sentence before any
listing or request, and nothing of it is evaluated.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pytest

import scp_widgets
from scp_widgets.emulator import Emulator
from scp_widgets.fleet.rule_language import RuleError, parse_rule
from scp_widgets.fleet.rules import check_rule, matching

HOSTILE = [
    "name.__class__.__init__.__globals__['sys'].modules['os'].system('id')",
    "name.__class__",
    "name.str.__class__",
    "name.__dict__",
    "__import__('os').system('id')",
    "getattr(name, '__class__')",
    "name[0]",
    "name.str[0] == 'w'",
    "{}.__class__.__base__.__subclasses__()",
    "''.join(name)",
    "'x'.upper() == name",
    "lambda: 1",
    "[n for n in name]",
    "f'{name}' == 'x'",
    "(x := 1)",
    "name.str.replace('a', 'b') == 'c'",
    "name.str.startswith('a', na=True)",
    "name.str.startswith(name)",
    "name.str.contains('x').__class__",
    "eval('1')",
    "exec('import os')",
    "open('/etc/passwd')",
    "vcpus + 1 > 2",
    "state in name",
    "*name",
    "_private == 1",
    "(" * 100 + "1" + ")" * 100,
    "name == 'x' or " * 300 + "True",
    # a number where text belongs: pandas raised its own TypeError (startswith), or only on a real listing
    "name.str.startswith(5)",
    "name.str.endswith(5)",
    "name.str.contains(5)",
    "name.str.contains(True)",
]


@pytest.fixture
def fleet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a1", "b2", "c3", "d4"],
            "name": pd.Series(["web-1", "db-2", None, "web-4"], dtype="string"),
            "state": pd.Series(["ACTIVE", "SHUTOFF", "ACTIVE", None], dtype="string"),
            "locked": pd.Series([True, False, None, False], dtype="boolean"),
            "vcpus": [1, 2, 4, 8],
        }
    )


@contextmanager
def nothing_runs() -> Iterator[list[str]]:
    """eval, exec, compile (but to a syntax tree) and pandas' eval/query raise if called inside: a rule must
    never reach them.
    (Restored before the test's asserts: pytest itself compiles.)"""
    calls: list[str] = []

    def explode(name: str) -> Any:
        def called(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} was called for a rule")

        return called

    parse_only = builtins.compile

    def compile_ast_only(source: Any, filename: Any, mode: str, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        if flags & ast.PyCF_ONLY_AST:  # ast.parse: a syntax tree, nothing that can run
            return parse_only(source, filename, mode, flags, *args, **kwargs)
        return explode("compile")(source)

    with pytest.MonkeyPatch.context() as patch:
        for name in ("eval", "exec"):
            patch.setattr(builtins, name, explode(name))
        patch.setattr(builtins, "compile", compile_ast_only)
        patch.setattr(pd.DataFrame, "eval", explode("DataFrame.eval"))
        patch.setattr(pd.DataFrame, "query", explode("DataFrame.query"))
        patch.setattr(pd, "eval", explode("pandas.eval"))
        yield calls


@pytest.mark.parametrize("rule", HOSTILE, ids=range(len(HOSTILE)))
def test_every_hostile_rule_is_refused_in_one_sentence_before_anything_runs(rule: str, fleet: pd.DataFrame) -> None:
    with nothing_runs() as calls, pytest.raises(RuleError) as caught:
        matching(fleet, rule)
    message = str(caught.value)
    assert message.count(". ") <= 1 and "\n" not in message and len(message) < 400
    assert calls == []
    with pytest.raises(RuleError):  # refused by the check alone, on the empty listing, before anything is listed
        check_rule(rule)


def test_every_dunder_is_refused_wherever_it_stands() -> None:
    dunders = ["__class__", "__globals__", "__init__", "__dict__", "__builtins__", "__subclasses__", "__getattribute__"]
    refused = 0
    with nothing_runs() as calls:
        for dunder in dunders:
            for rule in (f"name.{dunder}", f"name.str.{dunder}()", f"{dunder} == 1", f"name.{dunder}.x == 1"):
                try:
                    parse_rule(rule)
                except RuleError:
                    refused += 1
    assert refused == 4 * len(dunders) and calls == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("name.str.startswith('web-') and state == 'ACTIVE'", ["a1"]),
        ("not locked", ["b2", "d4"]),
        ("locked", ["a1"]),
        ("locked == False", ["b2", "d4"]),
        ("(state == 'ACTIVE') & ~locked", []),
        ("(state == 'SHUTOFF') | (vcpus == 8)", ["b2", "d4"]),
        ("state in ['ACTIVE', 'SHUTOFF']", ["a1", "b2", "c3"]),
        ("vcpus >= 2", ["b2", "c3", "d4"]),
        ("1 < vcpus <= 4", ["b2", "c3"]),
        ("vcpus > -1", ["a1", "b2", "c3", "d4"]),
        ("id == id", ["a1", "b2", "c3", "d4"]),
        ("name.str.endswith('-4') | name.str.contains('db')", ["b2", "d4"]),
        ("name.str.upper() == 'WEB-1'", ["a1"]),
        ("name.str.len() > 4", ["a1", "d4"]),
        ("name.isna()", ["c3"]),
        ("name.notna() and state.isna()", ["d4"]),
        ("not locked or state == 'ACTIVE'", ["a1", "b2", "c3", "d4"]),
    ],
)
def test_the_language_selects_what_it_says(rule: str, expected: list[str], fleet: pd.DataFrame) -> None:
    with nothing_runs() as calls:
        chosen = list(matching(fleet, rule).id)
    assert chosen == expected and calls == []


@pytest.mark.parametrize(
    "rule",
    [
        "state != 'ACTIVE'",  # d4's state is NA: unknown, not "not ACTIVE"
        "~(state == 'ACTIVE')",
        "not (state == 'ACTIVE')",
        "state not in ['ACTIVE']",
        "not name.str.startswith('web-') and name != 'x'",  # c3's name is NA
    ],
)
def test_na_never_matches_not_even_under_negation(rule: str, fleet: pd.DataFrame) -> None:
    assert list(matching(fleet, rule).id) == ["b2"]


def test_an_unknown_column_and_a_non_boolean_rule_are_one_sentence(fleet: pd.DataFrame) -> None:
    with pytest.raises(RuleError, match=r"names 'colour', which is not a column; columns: id, name"):
        matching(fleet, "colour == 'red'")
    with pytest.raises(RuleError, match="must give True or False for each server"):
        matching(fleet, "state")


def test_the_public_api_refuses_a_hostile_rule_before_any_request(
    emulator: Emulator, emu_options: dict[str, Any]
) -> None:
    rule = HOSTILE[0]
    with pytest.raises(RuleError):
        scp_widgets.lock(where=rule, dry_run=True, **emu_options)
    with pytest.raises(RuleError):
        scp_widgets.list_servers(where=rule, **emu_options)
    with pytest.raises(RuleError):
        scp_widgets.guard(rule, every=60, **emu_options)
    assert emulator.record == []
    assert check_rule(" state == 'ACTIVE' ") == "state == 'ACTIVE'"
