"""The bulk path (signed_posts.py): lock and unlock POSTs signed with a precomputed key and sent straight to
the default transport must be the requests the httpx path sends, signed exactly like the reference signer."""

from __future__ import annotations

import asyncio
import random
import string

import httpx
import pytest

from scp_widgets.client.auth import Signer, sign
from scp_widgets.client.credentials import Credentials, Secret
from scp_widgets.client.errors import ScpApiError
from scp_widgets.client.scp_client import AsyncScpClient
from scp_widgets.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Emulator, EmulatorServer


def test_the_signer_signs_exactly_like_the_reference_sign() -> None:
    rng = random.Random(5)
    for _ in range(200):
        secret = "".join(rng.choices(string.printable + "é한", k=rng.randint(1, 80)))
        access = "".join(rng.choices(string.ascii_letters, k=12))
        url = f"https://vs.example/v1/servers/{rng.getrandbits(64):x}/lock?a={rng.random()}"
        stamp = str(rng.getrandbits(41))
        signer = Signer(Credentials(access, Secret(secret)))
        for method in ("POST", "get"):
            assert signer.sign(method, url, stamp) == sign(method, url, stamp, access, secret)
        assert secret not in repr(signer)


def _client(url: str) -> AsyncScpClient:
    return AsyncScpClient(endpoint=url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY)


def test_locks_over_the_default_transport_build_no_httpx_request_each_and_pass_the_emulator(
    emulator: Emulator, live_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original = httpx.AsyncClient.build_request

    def counting(self: httpx.AsyncClient, method: str, url: object, **kwargs: object) -> httpx.Request:
        built.append(method)
        return original(self, method, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx.AsyncClient, "build_request", counting)
    ids = emulator.own_ids[:20]

    async def scenario() -> None:
        async with _client(live_emulator.url) as client:
            for server_id in ids:
                await client.lock(server_id)
            await client.unlock(ids[0])
            assert "sk" not in repr(client) and DEMO_SECRET_KEY not in repr(client.__dict__)

    asyncio.run(scenario())
    assert all(emulator.server(i)["locked"] for i in ids[1:])
    assert not emulator.server(ids[0])["locked"]
    # one template request per method and version (the emulator fixture checks no signature was refused)
    assert built.count("POST") == 1


def test_an_endpoint_httpx_would_rewrite_keeps_the_httpx_path_and_its_signature(
    emulator: Emulator, live_emulator: EmulatorServer
) -> None:
    shouting = live_emulator.url.replace("http://", "HTTP://")  # httpx sends (and signs) it lower-cased

    async def scenario() -> None:
        async with _client(shouting) as client:
            await client.lock(emulator.own_ids[0])

    asyncio.run(scenario())
    assert emulator.server(emulator.own_ids[0])["locked"]


def test_an_error_answer_on_the_bulk_path_is_the_same_error(emulator: Emulator, live_emulator: EmulatorServer) -> None:
    async def failures() -> list[str]:
        messages = []
        for transport in (None, emulator.transport()):
            async with AsyncScpClient(
                endpoint=live_emulator.url, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
                transport=transport,
            ) as client:  # fmt: skip
                with pytest.raises(ScpApiError) as caught:
                    await client.lock("00000000-0000-4000-8000-000000000000")
                error = caught.value
                messages.append(f"{error.status} {error.code} {error}")
        return messages

    bulk_path, httpx_path = asyncio.run(failures())
    assert "404" in bulk_path
    assert bulk_path.split("req-")[0] == httpx_path.split("req-")[0]  # all but the service's request id
