"""The Python API's mistakes: one `ScpUsageError` sentence, raised in the caller's frame with a short
traceback, before anything is sent; and signatures spelled out for Jupyter's signature help."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import Any

import httpx
import pytest

import scp_widgets
from scp_widgets import api
from scp_widgets.client.errors import ScpError, ScpUsageError
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator
from scp_widgets.engine.settings import RunOptions

MAX_TRACEBACK_ENTRIES = 4  # this test's frame, the caller, the public function and at most one helper of ours


def sent(emulator: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.record if r.path.startswith("/v1")]


def usage_error(call: Any) -> ScpUsageError:
    with pytest.raises(ScpUsageError) as info:
        call()
    error = info.value
    assert isinstance(error, ScpError) and isinstance(error, ValueError)
    entries = traceback.extract_tb(info.tb)
    assert len(entries) <= MAX_TRACEBACK_ENTRIES, traceback.format_tb(info.tb)
    assert not any(e.filename.endswith(("loop_thread.py", "_base.py", "threading.py")) for e in entries)
    assert error.__cause__ is None and error.__suppress_context__
    message = str(error)
    assert message.endswith(".") and "\n" not in message
    return error


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"concurrency": "16"}, "concurrency must be a whole number"),
        ({"concurrency": 1.5}, "concurrency must be a whole number"),
        ({"concurrency": True}, "concurrency must be a whole number"),
        ({"concurrency": 0}, "concurrency must be between 1 and 1000"),
        ({"timeout": "5"}, "timeout must be a number of seconds"),
        ({"retries": 2.0}, "retries must be a whole number"),
        ({"verify": "no"}, "verify must be True or False"),
        ({"api_version": 1}, "api_version"),
        ({"api_version": "1.0"}, "retired"),
        ({"journal": 3}, "journal must be"),
        ({"endpoint": 8080}, "endpoint must be a string"),
        ({"endpoint": "http://scp.example.com"}, "Refusing plain http://"),
        ({"endpoint": "http://127.0.0.1:99999"}, "has port 99999; a port is 1 to 65535"),
        ({"endpoint": "http://127.0.0.1:0"}, "has port 0; a port is 1 to 65535"),
    ],
)
def test_a_bad_option_is_one_sentence_from_the_caller(
    emulator: Emulator, emu_options: dict[str, Any], options: dict[str, Any], words: str
) -> None:
    error = usage_error(lambda: scp_widgets.lock(emulator.own_ids[:1], **{**emu_options, **options}))
    assert words in str(error)
    assert sent(emulator) == []


@pytest.mark.parametrize("ids", [{"31f1160f-bd1e-40e8-b2ef-84f4ed22c330": "web-052"}, {"id": "x"}])
def test_a_dict_of_ids_is_one_sentence(emulator: Emulator, emu_options: dict[str, Any], ids: dict[str, str]) -> None:
    """Iterating a dict gives its keys: {"id": uuid} sent "id" (an invalid_id row) and nothing else."""
    error = usage_error(lambda: scp_widgets.lock(ids, **emu_options))
    assert "keys or the values" in str(error) and "list(d.values())" in str(error)
    assert sent(emulator) == []


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u00ad", "\u2060", "\u2066", "\u2069", "\u202a", "\u180e"])
def test_an_invisible_character_copied_with_an_id_is_not_part_of_it(
    emulator: Emulator, emu_options: dict[str, Any], invisible: str
) -> None:
    # copied from a web page or a Windows file: the magic gave an invalid_id row that printed as a valid UUID
    target = emulator.own_ids[0]
    text = f"{invisible}{target.upper()}\n{invisible}{emulator.own_ids[1]}{invisible}"
    frame = scp_widgets.lock(text, dry_run=True, **emu_options)
    assert list(frame["server_id"]) == [target, emulator.own_ids[1]]
    assert set(frame["outcome"].astype(str)) == {"planned"}


def test_unknown_keyword_names_the_function_and_the_options(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    error = usage_error(lambda: scp_widgets.unlock(emulator.own_ids[:1], quiet=True, **emu_options))
    assert str(error).startswith("unlock() has no option 'quiet'")
    assert "concurrency" in str(error)
    assert sent(emulator) == []


def test_missing_credentials_and_endpoint_are_short(emulator: Emulator) -> None:
    error = usage_error(lambda: scp_widgets.lock(emulator.own_ids[:1], endpoint="http://127.0.0.1:9"))
    assert "No SCP credentials found" in str(error)
    error = usage_error(lambda: scp_widgets.lock(emulator.own_ids[:1], access_key="a", secret_key="b"))
    assert "No SCP endpoint configured" in str(error)
    usage_error(lambda: scp_widgets.list_servers(access_key="a", secret_key="b"))


def test_a_version_the_service_refuses_is_short_too(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    """Known only after asking the service (`GET /`), on the loop thread: still one short error in the caller."""
    error = usage_error(lambda: scp_widgets.lock(emulator.own_ids[:1], api_version="1.9", **emu_options))
    assert "1.9" in str(error)
    assert sent(emulator) == []


def test_a_float_version_is_read_as_written(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    frame = scp_widgets.lock(emulator.own_ids[:1], api_version=1.3, journal=False, **emu_options)
    assert frame.attrs["api_version"] == "1.3"
    assert list(frame["outcome"]) == ["locked"]


def test_the_async_api_raises_the_same_short_errors(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    async def main() -> None:
        await scp_widgets.alock(emulator.own_ids[:1], concurrency="16", **emu_options)

    with pytest.raises(ScpUsageError, match="concurrency must be a whole number") as info:
        asyncio.run(main())
    assert len(traceback.extract_tb(info.tb)) <= 7  # this test, asyncio.run (3 frames), main, alock, one helper
    assert sent(emulator) == []


@pytest.mark.parametrize("name", ["lock", "unlock", "alock", "aunlock"])
def test_signatures_spell_out_typed_keywords(name: str) -> None:
    signature = inspect.signature(getattr(scp_widgets, name))
    params = signature.parameters
    assert next(iter(params)) == "ids"
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for option in ("api_version", "endpoint", "concurrency", "timeout", "retries", "dry_run", "journal", "secret_key"):
        assert params[option].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[option].annotation is not inspect.Parameter.empty
    assert params["concurrency"].default == 16
    assert "concurrency" in (getattr(scp_widgets, name).__doc__ or "")


def test_run_options_are_frozen_and_validated() -> None:
    options = RunOptions(concurrency=4, api_version=1.3)
    assert options.api_version == "1.3"
    with pytest.raises(AttributeError):
        options.concurrency = 5  # type: ignore[misc]
    with pytest.raises(ScpUsageError):
        RunOptions(verify_timeout=-1)


def test_engine_takes_one_options_object() -> None:
    from scp_widgets.engine.bulk import run_bulk

    params = inspect.signature(run_bulk).parameters
    assert params["options"].annotation in (RunOptions, "RunOptions")
    assert "options" in inspect.signature(api.arun).parameters


def test_good_options_still_run(emulator: Emulator) -> None:
    transport = emulator.transport()
    frame = scp_widgets.lock(
        emulator.own_ids[:2], endpoint="http://127.0.0.1:9", access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
        transport=transport, concurrency=2, timeout=5, retries=0, journal=False,
    )  # fmt: skip
    assert list(frame["outcome"]) == ["locked", "locked"]
    assert isinstance(transport, httpx.AsyncBaseTransport)


@pytest.mark.parametrize("name", ["lock", "list_servers"])
def test_a_deprecation_warning_points_at_the_callers_line(name: str) -> None:
    """The notebook shows the file and line `stacklevel` names: the user's call, not a frame of ours."""
    import datetime as dt

    from scp_widgets.client.versions import ScpDeprecationWarning
    from scp_widgets.emulator import ApiVersion, EmulatorConfig

    soon = dt.date.today() + dt.timedelta(days=30)
    versions = (ApiVersion("1.4", "CURRENT"), ApiVersion("1.3", "DEPRECATED", soon))
    emulator = Emulator(EmulatorConfig(servers=3, locked_fraction=0, versions=versions))
    options = {"endpoint": "http://127.0.0.1:9", "access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY}
    options.update(transport=emulator.transport(), api_version="1.3")
    call = {
        "lock": lambda: scp_widgets.lock(emulator.own_ids[:1], journal=False, **options),
        "list_servers": lambda: scp_widgets.list_servers(**options),
    }[name]
    with pytest.warns(ScpDeprecationWarning, match="1.3 is deprecated") as caught:
        call()
    assert [w.filename for w in caught] == [__file__]  # the line of the call (in the lambda above)


def test_a_client_and_connection_options_together_are_refused(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    from scp_widgets.client.scp_client import ScpClient

    with ScpClient(**emu_options) as client:
        error = usage_error(lambda: scp_widgets.lock(emulator.own_ids[:1], client=client, endpoint="https://x.test"))
        assert "client=" in str(error)
        frame = scp_widgets.lock(emulator.own_ids[:1], client=client, journal=False)
    assert list(frame["outcome"]) == ["locked"]


def test_the_blocking_client_raises_short_usage_errors_too(emulator: Emulator, emu_options: dict[str, Any]) -> None:
    from scp_widgets.client.scp_client import ScpClient

    usage_error(lambda: ScpClient(endpoint="http://127.0.0.1:9"))  # no credentials
    with ScpClient(**emu_options) as client:
        usage_error(lambda: client.show("not-a-server-id"))
    assert sent(emulator) == []


def test_the_sentence_names_the_type_given() -> None:
    with pytest.raises(ScpUsageError, match=r"not 16\.0 \(a float\)"):
        RunOptions(retries=16.0)  # type: ignore[arg-type]
    with pytest.raises(ScpUsageError, match="secret_key must be a string, not an int"):
        scp_widgets.lock(["x"], access_key="a", secret_key=123)  # type: ignore[arg-type]
