"""The layout is the architecture (docs/architecture.md): layers import one way, faces stay thin, and no
module reaches into another's private names. import-linter checks the layers in CI; these tests check the
rest, and that the contract really catches an upward import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "scp_widgets"
FACES = ("notebook", "panel")
FACE_LIMIT = 250
MODULE_LIMIT = 400


def code_lines(path: Path) -> int:
    """Lines of code: not blank, not a comment, not a docstring."""
    source = path.read_text()
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_private_name_is_imported_from_another_module() -> None:
    crossings = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scp_widgets"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                crossings += [f"{path.relative_to(REPO)}: {node.module}.{name}" for name in private]
    assert crossings == []


@pytest.mark.parametrize("face", FACES)
def test_faces_are_thin(face: str) -> None:
    sizes = {p.name: code_lines(p) for p in (PACKAGE / face).glob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= FACE_LIMIT} == {}


def test_no_module_is_over_the_limit() -> None:
    sizes = {str(p.relative_to(PACKAGE)): code_lines(p) for p in modules()}
    assert {name: n for name, n in sizes.items() if n > MODULE_LIMIT} == {}


def test_the_top_level_keeps_only_the_public_faces() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "api.py"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    linter = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(linter), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


@pytest.mark.slow
def test_the_layers_contract_holds_and_catches_an_upward_import(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "scp_widgets", ignore=shutil.ignore_patterns("__pycache__", "_notebooks"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout[-3000:]

    retry = tmp_path / "scp_widgets" / "client" / "retry.py"
    retry.write_text(retry.read_text() + "\nfrom scp_widgets.engine import results  # noqa: E402, F401\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "scp_widgets.client is not allowed to import scp_widgets.engine" in broken.stdout
