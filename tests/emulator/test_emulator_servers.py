"""The Virtual Server calls: lock semantics, errors by id, listing and paging, the record."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from emulator_helpers import Api, FakeClock, error, in_process

from scp_widgets.emulator import DEMO_ACCOUNT_ID, DEMO_SECRET_KEY, Emulator, EmulatorConfig

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(EmulatorConfig(servers=50, foreign_servers=2, clock=clock))


@pytest.fixture
def api(emulator: Emulator, clock: FakeClock) -> Iterator[Api]:
    with in_process(emulator, clock) as api:
        yield api


def _unlocked_active(emulator: Emulator) -> str:
    return next(
        i for i in emulator.own_ids if not emulator.server(i)["locked"] and emulator.server(i)["state"] == "ACTIVE"
    )


def test_seeded_fleet_is_deterministic_and_plausible() -> None:
    first, second = Emulator(), Emulator()
    assert first.own_ids == second.own_ids
    assert len(first.own_ids) == 50
    assert len(first.foreign_ids) == 2
    assert all(UUID4.fullmatch(i) for i in first.own_ids + first.foreign_ids)
    views = [first.server(i) for i in first.own_ids]
    assert sum(v["locked"] for v in views) == 5
    assert sum(v["state"] == "SHUTOFF" for v in views) == 10
    assert all(re.fullmatch(r"(web|app|db|batch|cache)-\d{3}", v["name"]) for v in views)
    assert {v["account_id"] for v in views} == {DEMO_ACCOUNT_ID}
    assert Emulator(EmulatorConfig(seed=8)).own_ids != first.own_ids


def test_show_returns_the_flat_server_object(api: Api, emulator: Emulator) -> None:
    server_id = emulator.own_ids[0]
    body = api.show(server_id).json()
    assert set(body) == {
        "id", "name", "state", "locked", "account_id", "created_at", "modified_at",
        "server_type", "vpc_id", "addresses", "image_id", "keypair_name",
    }  # fmt: skip
    assert body == emulator.server(server_id)
    assert set(body["server_type"]) == {"id", "name", "vcpus", "ram", "disk"}
    assert set(body["addresses"][0]) == {"subnet_id", "ip_addresses"}


def test_lock_blocks_stop_until_unlocked(api: Api, emulator: Emulator) -> None:
    server_id = _unlocked_active(emulator)
    lock = api.post(server_id, "lock")
    assert lock.status_code == 202
    assert lock.content == b""
    assert api.show(server_id).json()["locked"] is True
    stop = api.post(server_id, "stop")
    assert stop.status_code == 409
    assert error(stop)["code"] == "SERVER_LOCKED"
    assert "server is locked" in str(error(stop)["detail"])
    assert api.show(server_id).json()["state"] == "ACTIVE"
    assert api.post(server_id, "unlock").status_code == 202
    assert api.post(server_id, "stop").status_code == 202
    assert api.show(server_id).json()["state"] == "SHUTOFF"


def test_lock_is_idempotent(api: Api, emulator: Emulator) -> None:
    server_id = _unlocked_active(emulator)
    assert [api.post(server_id, "lock").status_code for _ in range(2)] == [202, 202]
    assert emulator.server(server_id)["locked"] is True
    assert [a for _, a in emulator.lock_history[server_id]] == ["lock", "lock"]


@pytest.mark.parametrize("action", ["start", "delete"])
def test_locked_server_refuses_start_and_delete(api: Api, emulator: Emulator, action: str) -> None:
    server_id = next(i for i in emulator.own_ids if emulator.server(i)["state"] == "SHUTOFF")
    api.post(server_id, "lock")
    method, path = (
        ("DELETE", f"/v1/servers/{server_id}") if action == "delete" else ("POST", f"/v1/servers/{server_id}/start")
    )
    response = api.call(method, path)
    assert response.status_code == 409
    assert error(response)["code"] == "SERVER_LOCKED"


def test_state_conflicts_are_409(api: Api, emulator: Emulator) -> None:
    active = _unlocked_active(emulator)
    assert api.post(active, "start").status_code == 409
    assert error(api.post(active, "start"))["code"] == "INVALID_SERVER_STATE"
    assert api.post(active, "stop").status_code == 202
    assert api.post(active, "stop").status_code == 409
    assert api.post(active, "start").status_code == 202


def test_lock_becomes_visible_after_the_delay(clock: FakeClock) -> None:
    emulator = Emulator(
        EmulatorConfig(servers=5, locked_fraction=0.0, shutoff_fraction=0.0, lock_delay=2.0, clock=clock)
    )
    server_id = emulator.own_ids[0]
    with in_process(emulator, clock) as api:
        assert api.post(server_id, "lock").status_code == 202
        assert api.show(server_id).json()["locked"] is False
        # Judged on the visible state: a lock that has not landed yet does not protect.
        assert api.post(server_id, "stop").status_code == 202
        assert api.post(server_id, "start").status_code == 202
        clock.advance(1.999)
        assert api.show(server_id).json()["locked"] is False
        clock.advance(0.001)
        assert api.show(server_id).json()["locked"] is True
        assert api.post(server_id, "stop").status_code == 409
        assert api.post(server_id, "unlock").status_code == 202
        assert api.show(server_id).json()["locked"] is True
        clock.advance(2.0)
        assert api.show(server_id).json()["locked"] is False


def test_foreign_server_is_403_for_every_call(api: Api, emulator: Emulator) -> None:
    server_id = emulator.foreign_ids[0]
    statuses = [api.post(server_id, a).status_code for a in ("lock", "unlock", "start", "stop")]
    statuses += [api.show(server_id).status_code, api.call("DELETE", f"/v1/servers/{server_id}").status_code]
    assert statuses == [403] * 6
    assert error(api.show(server_id))["code"] == "FORBIDDEN"
    assert server_id not in emulator.lock_history


def test_unknown_server_is_404(api: Api) -> None:
    response = api.post("2a9be312-5d4b-4bc8-b2ae-35100fa9241f", "lock")
    assert response.status_code == 404
    assert error(response)["code"] == "SERVER_NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "2a9be312-5d4b-4bc8-b2ae-35100fa9241", "12345"])
def test_malformed_id_is_400(api: Api, bad_id: str) -> None:
    for response in (api.post(bad_id, "lock"), api.show(bad_id)):
        assert response.status_code == 400
        assert error(response)["code"] == "INVALID_SERVER_ID"


def test_ids_match_exactly(api: Api, emulator: Emulator) -> None:
    assert api.show(emulator.own_ids[0].upper()).status_code == 404


def test_deleted_server_disappears(api: Api, emulator: Emulator) -> None:
    server_id = _unlocked_active(emulator)
    assert api.call("DELETE", f"/v1/servers/{server_id}").status_code == 202
    assert api.show(server_id).status_code == 404
    assert server_id not in emulator.own_ids
    listed = api.call("GET", "/v1/servers?limit=1000").json()["servers"]
    assert server_id not in {s["id"] for s in listed}


def test_unknown_route_and_wrong_method(api: Api, emulator: Emulator) -> None:
    assert api.call("GET", "/v1/volumes").status_code == 404
    wrong = api.call("PUT", f"/v1/servers/{emulator.own_ids[0]}/lock")
    assert wrong.status_code == 405
    assert error(wrong)["code"] == "METHOD_NOT_ALLOWED"


def test_paging_with_marker_walks_the_fleet_once(api: Api, emulator: Emulator) -> None:
    seen: list[str] = []
    pages = 0
    query = "limit=7"
    while True:
        servers = api.call("GET", f"/v1/servers?{query}").json()["servers"]
        pages += 1
        seen += [s["id"] for s in servers]
        if len(servers) < 7:
            break
        query = f"limit=7&marker={servers[-1]['id']}"
    assert pages == 8  # 7 full pages and a short one
    assert sorted(seen) == sorted(emulator.own_ids)
    assert len(seen) == len(set(seen))
    assert not set(seen) & set(emulator.foreign_ids)


def test_default_order_is_newest_first_and_limit_20(api: Api) -> None:
    servers = api.call("GET", "/v1/servers").json()["servers"]
    assert len(servers) == 20
    created = [s["created_at"] for s in servers]
    assert created == sorted(created, reverse=True)
    by_name = api.call("GET", "/v1/servers?limit=1000&sort=name:asc").json()["servers"]
    assert [s["name"] for s in by_name] == sorted(s["name"] for s in by_name)


def test_filters(api: Api, emulator: Emulator) -> None:
    views = [emulator.server(i) for i in emulator.own_ids]
    shutoff = api.call("GET", "/v1/servers?limit=1000&state=SHUTOFF").json()["servers"]
    assert {s["id"] for s in shutoff} == {v["id"] for v in views if v["state"] == "SHUTOFF"}
    web = api.call("GET", "/v1/servers?limit=1000&name=web-").json()["servers"]
    assert web
    assert all("web-" in s["name"] for s in web)
    target = views[3]
    ip = target["addresses"][0]["ip_addresses"][0]
    assert [s["id"] for s in api.call("GET", f"/v1/servers?ip={ip}").json()["servers"]] == [target["id"]]
    same_vpc = api.call("GET", f"/v1/servers?limit=1000&vpc_id={target['vpc_id']}").json()["servers"]
    assert {s["id"] for s in same_vpc} == {v["id"] for v in views if v["vpc_id"] == target["vpc_id"]}
    type_id = target["server_type"]["id"]
    same_type = api.call("GET", f"/v1/servers?limit=1000&server_type_id={type_id}").json()["servers"]
    assert {s["id"] for s in same_type} == {v["id"] for v in views if v["server_type"]["id"] == type_id}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=ten", "limit=-1", "marker=2a9be312-5d4b-4bc8-b2ae-35100fa9241f",
     "sort=size:asc", "sort=name:up", "colour=blue"],
)  # fmt: skip
def test_bad_list_parameters_are_400(api: Api, query: str) -> None:
    response = api.call("GET", f"/v1/servers?{query}")
    assert response.status_code == 400
    assert error(response)["code"] == "INVALID_PARAMETER"


def test_record_and_lock_history_hold_what_was_sent(api: Api, emulator: Emulator, clock: FakeClock) -> None:
    sent: list[str] = []
    api.client.event_hooks["request"] = [lambda request: sent.append(request.headers["scp-signature"])]
    server_id = _unlocked_active(emulator)
    api.post(server_id, "lock")
    clock.advance(5)
    api.post(server_id, "unlock")
    api.call("GET", "/v1/servers?limit=3")
    api.post(emulator.foreign_ids[0], "lock")

    lock, unlock, listing, foreign = emulator.record
    assert (lock.method, lock.path, lock.action, lock.server_id, lock.status) == (
        "POST", f"/v1/servers/{server_id}/lock", "lock", server_id, 202,
    )  # fmt: skip
    assert (lock.api_version, lock.access_key, lock.fault) == ("1.3", "scp-demo-access-key", None)
    assert unlock.time == lock.time + 5
    assert (listing.action, listing.query, listing.server_id) == ("list", "limit=3", None)
    assert (foreign.action, foreign.status) == ("lock", 403)
    assert emulator.lock_history == {server_id: [(lock.time, "lock"), (unlock.time, "unlock")]}

    counts = emulator.counts()
    assert counts["total"] == 4
    assert counts["by_action"] == {"lock": 2, "unlock": 1, "list": 1}
    assert counts["by_status"] == {202: 2, 200: 1, 403: 1}
    assert counts["by_action_status"]["lock 403"] == 1

    dumped = repr(emulator.record) + repr(emulator.lock_history) + repr(emulator.counts())
    assert len(sent) == 4
    assert not [secret for secret in [DEMO_SECRET_KEY, *sent] if secret in dumped]

    emulator.reset_record()
    assert emulator.record == []
    assert emulator.lock_history == {}
    assert emulator.server(server_id)["locked"] is False  # the fleet is kept
