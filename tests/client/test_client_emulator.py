"""The client against the emulator on a real loopback socket: the documented lock lifecycle and errors."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from scp_widgets.client.errors import ScpApiError, UnsupportedVersionError
from scp_widgets.client.scp_client import ScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorConfig, EmulatorServer


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[ScpClient]:
    with ScpClient(endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY) as scp:
        yield scp


def unlocked_server(emulator: Emulator, state: str = "ACTIVE") -> str:
    return next(
        i for i in emulator.own_ids if not emulator.server(i)["locked"] and emulator.server(i)["state"] == state
    )


def test_lock_blocks_stop_until_unlocked(emulator: Emulator, client: ScpClient) -> None:
    server_id = unlocked_server(emulator)
    accepted = client.lock(server_id)
    assert accepted.status == 202
    assert accepted.attempts == 1
    assert client.show(server_id)["locked"] is True

    with pytest.raises(ScpApiError) as refused:
        client.request("POST", f"/v1/servers/{server_id}/stop")
    assert refused.value.status == 409
    assert refused.value.request_id

    client.unlock(server_id)
    assert client.show(server_id)["locked"] is False
    assert client.request("POST", f"/v1/servers/{server_id}/stop").status_code == 202
    assert emulator.server(server_id)["state"] == "SHUTOFF"


def test_every_request_the_client_sends_passes_the_signature_check(emulator: Emulator, client: ScpClient) -> None:
    server_id = unlocked_server(emulator)
    client.lock(server_id)
    client.show(server_id)
    client.unlock(server_id)
    assert client.list_servers(name="web 0") == []  # a query with a space, signed exactly as sent
    listed = client.list_servers(page_size=7, name="web-0")
    assert listed
    assert all("web-0" in s["name"] for s in listed)
    statuses = {r.status for r in emulator.record if r.path.startswith("/v1/")}
    assert statuses <= {200, 202}
    assert {r.api_version for r in emulator.record if r.path.startswith("/v1/")} == {"1.3"}


def test_foreign_server_is_forbidden_and_unknown_is_not_found(emulator: Emulator, client: ScpClient) -> None:
    with pytest.raises(ScpApiError) as foreign:
        client.lock(emulator.foreign_ids[0])
    assert foreign.value.status == 403
    with pytest.raises(ScpApiError) as unknown:
        client.lock("00000000-0000-4000-8000-000000000000")
    assert unknown.value.status == 404
    assert unknown.value.code


@pytest.mark.filterwarnings("ignore::scp_widgets.client.versions.ScpDeprecationWarning")
def test_service_refuses_a_version_it_has_retired_with_406(server: EmulatorServer) -> None:
    """The client's table still allows 1.2 on 2026-06-15; the emulator, living on 2026-11-27, does not."""
    emulator = Emulator(EmulatorConfig(servers=3, today=dt.date(2026, 11, 27)))
    with EmulatorServer(emulator) as late:
        client = ScpClient(
            endpoint=late.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY, api_version="1.2",
            today=dt.date(2026, 6, 15), discover_versions=False,
        )  # fmt: skip
        with pytest.raises(ScpApiError) as refused:
            client.lock(emulator.own_ids[0])
        client.close()
    assert refused.value.status == 406
    assert "1.3" in refused.value.message


def test_retired_version_is_refused_by_the_client_before_sending(emulator: Emulator, server: EmulatorServer) -> None:
    with pytest.raises(UnsupportedVersionError, match="retired on 2025-12-31"):
        ScpClient(endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY, api_version="1.0")
    assert emulator.record == []


@pytest.mark.signature_rejections
def test_wrong_secret_and_stale_clock_are_refused_with_401(emulator: Emulator, server: EmulatorServer) -> None:
    server_id = emulator.own_ids[0]
    with ScpClient(endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key="not-the-secret") as wrong:
        with pytest.raises(ScpApiError) as caught:
            wrong.show(server_id)
    assert caught.value.status == 401
    ten_minutes_ago = lambda: time.time() - 600  # noqa: E731 - outside the 5-minute skew window
    with ScpClient(
        endpoint=server.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY, clock=ten_minutes_ago
    ) as stale:
        with pytest.raises(ScpApiError) as caught:
            stale.show(server_id)
    assert caught.value.status == 401


def test_version_discovery_reads_the_services_catalog(emulator: Emulator, client: ScpClient) -> None:
    assert client.version().number == "1.3"
    assert [r.action for r in emulator.record][:1] == ["versions"]
