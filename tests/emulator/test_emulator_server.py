"""The emulator on a real loopback socket (EmulatorServer), including real dropped connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import Api, FakeClock

from scp_widgets.emulator import Emulator, EmulatorConfig, EmulatorServer, Faults


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(EmulatorConfig(servers=10, clock=clock))


@pytest.fixture
def server(emulator: Emulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as running:
        yield running


@pytest.fixture
def api(server: EmulatorServer, clock: FakeClock) -> Iterator[Api]:
    with httpx.Client(timeout=10) as client:
        yield Api(client, server.url, clock)


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "scp-emulator-server"]


def test_signed_request_over_a_socket(api: Api, server: EmulatorServer, emulator: Emulator) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    response = api.post(emulator.own_ids[0], "lock")
    assert response.status_code == 202
    assert api.show(emulator.own_ids[0]).json()["locked"] is True
    # The signature covers the real host:port the client used.
    assert api.call("GET", "/v1/servers?limit=2&name=web+0").status_code == 200


def test_unsigned_request_over_a_socket_gets_gateway_404(api: Api, server: EmulatorServer) -> None:
    response = api.client.get(f"{server.url}/v1/servers")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


def test_drop_closes_the_connection_and_the_server_keeps_serving(
    api: Api, server: EmulatorServer, emulator: Emulator
) -> None:
    emulator.set_faults(Faults(drop_rate=1.0))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.call("GET", "/v1/servers")
    assert emulator.record[-1].fault == "drop"
    emulator.set_faults(Faults())
    assert api.call("GET", "/v1/servers").status_code == 200


def test_drop_sends_no_bytes_at_all(server: EmulatorServer, emulator: Emulator, clock: FakeClock) -> None:
    # Below httpx: the peer must see a bare close, not a 500 or a partial response.
    emulator.set_faults(Faults(drop_rate=1.0))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/servers HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""


def test_introspection_over_http(api: Api, server: EmulatorServer, emulator: Emulator) -> None:
    api.show(emulator.own_ids[0])
    api.post(emulator.own_ids[1], "lock")
    base = f"{server.url}/_emulator"
    record = api.client.get(f"{base}/record").json()
    assert [r["action"] for r in record["records"]] == ["show", "lock"]
    assert record["next"] == 2
    assert api.client.get(f"{base}/record?since=1").json()["records"][0]["action"] == "lock"
    assert api.client.get(f"{base}/counts").json()["by_action"] == {"show": 1, "lock": 1}
    history = api.client.get(f"{base}/lock-history").json()
    assert [event[1] for event in history[emulator.own_ids[1]]] == ["lock"]

    faults = api.client.post(f"{base}/faults", json={"throttle_rate": 1.0, "retry_after": 3, "error_rates": {"503": 0}})
    assert faults.status_code == 200
    assert emulator.faults == Faults(throttle_rate=1.0, retry_after=3.0, error_rates={503: 0.0})
    throttled = api.show(emulator.own_ids[0])
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "3")
    assert api.client.post(f"{base}/faults", json={"nonsense": 1}).status_code == 400
    assert api.client.post(f"{base}/faults", json={"drop_rate": 2}).status_code == 400
    assert api.client.post(f"{base}/faults", json={}).status_code == 200
    assert emulator.faults == Faults()

    assert api.client.post(f"{base}/reset").status_code == 204
    assert emulator.record == []
    assert emulator.lock_history == {}
    # Introspection itself is never recorded.
    assert api.client.get(f"{base}/record").json() == {"records": [], "next": 0}


def test_stop_joins_the_thread_and_frees_the_port(emulator: Emulator) -> None:
    server = EmulatorServer(emulator).start()
    port = server.port
    assert len(_server_threads()) == 1
    server.stop()
    assert _server_threads() == []
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    server.stop()  # idempotent


def test_start_fails_loudly_on_a_busy_port(emulator: Emulator, server: EmulatorServer) -> None:
    with pytest.raises(RuntimeError, match="could not listen"):
        EmulatorServer(emulator, port=server.port).start()
    assert len(_server_threads()) == 1  # only the fixture's
