"""`before_import(name, step)`: run `step()` when module `name` starts executing, in whichever thread imports it.

For tests that need a slow or interrupted import at an exact point (in a child interpreter). The step runs
inside the module's own execution, holding that module's lock only: a finder runs under the global import
lock, so waiting there would hold every import of every thread, which no real import does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence


def before_import(name: str, step: Callable[[], object]) -> None:
    sys.meta_path.insert(0, _Finder(name, step))


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, step: Callable[[], object]) -> None:
        self.name, self.step = name, step

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != self.name:
            return None
        sys.meta_path.remove(self)  # once: the real finders answer from here on
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, self.step)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, step: Callable[[], object]) -> None:
        self.loader, self.step = loader, step

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.step()
        self.loader.exec_module(module)
