"""A secret given as a plain string is wrapped (`Secret`) the moment it enters the public API: no frame of a
failing call holds it, or the whole environment, as a plain local (what `%xmode Verbose` prints and what error
trackers that capture locals would ship)."""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

import scp_widgets
from scp_widgets.client.credentials import Secret, resolve_credentials
from scp_widgets.client.endpoints import resolve_endpoint
from scp_widgets.client.errors import ScpUsageError
from scp_widgets.client.scp_client import AsyncScpClient, ScpClient

SECRET = "frame-secret-9f2c4e6a8b0d1357"
SID = "31f1160f-bd1e-40e8-b2ef-84f4ed22c330"
_OPAQUE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType)


def frames(error: BaseException) -> Iterator[types.FrameType]:
    """Every frame of the traceback, and of the chained exceptions' tracebacks."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        pending += [current.__cause__, current.__context__]


def holders(value: Any, path: str, seen: set[int], depth: int = 0) -> Iterator[str]:
    """Paths under `value` (dicts, sequences, objects' attributes and slots) that hold the secret in clear."""
    if isinstance(value, (Secret, *_OPAQUE)):
        return
    if isinstance(value, str | bytes):
        if SECRET in (value if isinstance(value, str) else value.decode("utf-8", "replace")):
            yield path
        return
    if depth > 8 or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, Mapping):
        children = [(f"{path}[{k!r}]", v) for k, v in list(value.items())]
    elif isinstance(value, list | tuple | set | frozenset):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        attributes = dict(getattr(value, "__dict__", {}))
        for cls in type(value).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if isinstance(slot, str) and hasattr(value, slot):
                    attributes[slot] = getattr(value, slot)
        children = [(f"{path}.{k}", v) for k, v in attributes.items()]
    for child_path, child in children:
        yield from holders(child, child_path, seen, depth + 1)


def in_the_package(frame: types.FrameType) -> bool:
    """Frames of scp_widgets' code (not the test's own, whose monkeypatch holds the environment)."""
    return f"{os.sep}scp_widgets{os.sep}" in frame.f_code.co_filename


def assert_no_clear_secret(error: BaseException, ours: Callable[[types.FrameType], bool] = in_the_package) -> None:
    found = []
    checked = 0
    for frame in frames(error):
        if not ours(frame):
            continue  # the test's own frames (monkeypatch holds the environment) and the libraries'
        checked += 1
        name = frame.f_code.co_name
        for local, value in frame.f_locals.items():
            assert value is not os.environ, f"{name}() holds os.environ as {local!r}"
            found += holders(value, f"{name}().{local}", set())
    assert checked >= 1, "no frame of scp_widgets in the traceback: the test checks nothing"
    assert not found, f"the secret in clear: {found[:5]}"


def test_the_walk_finds_a_clear_secret() -> None:
    class Holder:
        def __init__(self) -> None:
            self.options = {"nested": [("x", SECRET)]}

    def leaky(holder: Holder) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError) as info:
        leaky(Holder())
    with pytest.raises(AssertionError, match="the secret in clear"):
        assert_no_clear_secret(info.value, ours=lambda frame: True)


def boom(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/":  # the version list: let the run start, then break on the lock itself
        return httpx.Response(404)
    raise RuntimeError("the transport broke")


@pytest.mark.parametrize(
    ("call", "deep_inside"),
    [
        (lambda **kw: scp_widgets.lock([SID], journal=False, **kw), "run_bulk"),
        (lambda **kw: scp_widgets.list_servers(**kw), "list_servers"),
    ],
    ids=["lock", "list_servers"],
)
def test_a_call_that_fails_inside_holds_only_the_wrapped_secret(call: Any, deep_inside: str) -> None:
    connection = {"endpoint": "https://scp.example.com", "access_key": "AK", "secret_key": SECRET}
    with pytest.raises(RuntimeError, match="the transport broke") as info:
        call(transport=httpx.MockTransport(boom), **connection)
    names = [f.f_code.co_name for f in frames(info.value) if in_the_package(f)]
    assert names.count(deep_inside) >= 1 and len(names) >= 5, names  # it failed deep inside, on the loop thread
    assert_no_clear_secret(info.value)


def test_a_mistake_with_a_secret_holds_only_the_wrapped_secret() -> None:
    with pytest.raises(ScpUsageError) as info:
        scp_widgets.lock([SID], endpoint="http://scp.example.com", access_key="AK", secret_key=SECRET)
    assert_no_clear_secret(info.value)


@pytest.mark.parametrize("make", [AsyncScpClient, ScpClient], ids=["AsyncScpClient", "ScpClient"])
def test_client_constructors_wrap_the_secret_first(make: Any) -> None:
    with pytest.raises(ScpUsageError) as info:
        make(endpoint="http://scp.example.com", access_key="AK", secret_key=SECRET)
    assert_no_clear_secret(info.value)


def test_endpoint_resolver_holds_only_what_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_SECRET_KEY", SECRET)
    monkeypatch.setenv("SCP_ENDPOINT", "http://scp.example.com")  # plain http to a remote host: refused
    with pytest.raises(ScpUsageError) as info:
        resolve_endpoint()
    assert_no_clear_secret(info.value)


def test_credentials_resolver_holds_the_environment_secret_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_SECRET_KEY", SECRET)  # and no SCP_ACCESS_KEY: refused
    with pytest.raises(ScpUsageError, match="SCP_ACCESS_KEY is not set") as info:
        resolve_credentials()
    assert_no_clear_secret(info.value)


def test_panel_wraps_the_secret_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from scp_widgets.panel import lock_panel as panel

    def broken(self: Any) -> list[Any]:
        raise RuntimeError("no widgets today")

    monkeypatch.setattr(panel.LockPanel, "_build", broken)
    with pytest.raises(RuntimeError) as info:
        panel.LockPanel(endpoint="https://scp.example.com", access_key="AK", secret_key=SECRET, autoload=False)
    assert_no_clear_secret(info.value)
