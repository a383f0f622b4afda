"""The demo fleet, and `ensure_endpoint()`: the first cell of every tutorial notebook.

One seeded fleet is used everywhere a demo runs (`scp-widgets demo`, Binder's `start`, a notebook on its
own), so the ids a notebook shows are the same in all of them. Its mild faults make retries visible.
"""

from __future__ import annotations

import atexit
import os
import threading

from scp_widgets.emulator import (
    DEMO_ACCESS_KEY,
    DEMO_FOREIGN_SERVERS,
    DEMO_LOCK_DELAY,
    DEMO_SECRET_KEY,
    DEMO_SEED,
    DEMO_SERVERS,
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    Faults,
)
from scp_widgets.emulator.regions import RegionalEmulators

#: The demo serves two regions, each its own fleet; the first is the default fleet (05-fleet.ipynb uses both).
DEMO_REGIONS = ("kr-west1", "kr-east1")
# 3 % 503, 1 % 429 asking for a 1 s wait, 20 ms per request: enough for retries to show, not enough to annoy.
DEMO_FAULTS = Faults(latency=0.02, error_rates={503: 0.03}, throttle_rate=0.01, retry_after=1.0)

_server: EmulatorServer | None = None
_regions: RegionalEmulators | None = None
_guard = threading.Lock()


def demo_config(servers: int = DEMO_SERVERS) -> EmulatorConfig:
    """The demo fleet: `servers` own servers (some locked, some SHUTOFF), a few of another account."""
    return EmulatorConfig(
        servers=servers,
        foreign_servers=DEMO_FOREIGN_SERVERS,
        seed=DEMO_SEED,
        lock_delay=DEMO_LOCK_DELAY,
        faults=DEMO_FAULTS,
    )


def emulator_arguments(servers: int = DEMO_SERVERS, port: int = 0) -> list[str]:
    """The same fleet as `demo_config`, as `python -m scp_widgets.emulator` options."""
    f = DEMO_FAULTS
    errors = [f"--error-rate={status}={rate:g}" for status, rate in f.error_rates.items()]
    return [
        f"--port={port}", f"--servers={servers}", f"--foreign-servers={DEMO_FOREIGN_SERVERS}",
        f"--seed={DEMO_SEED}", f"--lock-delay={DEMO_LOCK_DELAY:g}", f"--latency={f.latency:g}", *errors,
        f"--throttle-rate={f.throttle_rate:g}", f"--retry-after={f.retry_after:g}",
        f"--regions={','.join(DEMO_REGIONS)}",
    ]  # fmt: skip


def ensure_endpoint(servers: int = DEMO_SERVERS) -> str:
    """Use `SCP_ENDPOINT` when set; otherwise start a local emulator for this kernel and point SCP_* at it.

    Returns the endpoint URL. Calling it again in the same kernel reuses the emulator it started.
    """
    with _guard:
        endpoint = os.environ.get("SCP_ENDPOINT", "").strip()
        if _server is not None and endpoint == _server.url:
            print(f"Using the local SCP emulator started earlier in this kernel at {endpoint}")
            return endpoint
        if endpoint:
            print(f"Using the SCP endpoint at {endpoint}")
            return endpoint
        url = _start_local(servers)
    print(f"No SCP_ENDPOINT set: started a local SCP emulator at {url} ({servers} servers, demo credentials)")
    return url


def _start_local(servers: int) -> str:
    global _server
    _server = EmulatorServer(Emulator(demo_config(servers))).start()
    atexit.register(stop_local_emulator)  # a daemon thread would be cut off mid-request at exit
    # Only this kernel's environment: the notebook's calls, magics and panel all read SCP_* from here.
    os.environ.update(SCP_ENDPOINT=_server.url, SCP_ACCESS_KEY=DEMO_ACCESS_KEY, SCP_SECRET_KEY=DEMO_SECRET_KEY)
    return _server.url


def stop_local_emulator() -> None:
    """Stop the emulator `ensure_endpoint` started (if any) and forget the SCP_* values it set."""
    global _server
    with _guard:
        server, _server = _server, None
        if server is None:
            return
        if os.environ.get("SCP_ENDPOINT") == server.url:
            for name in ("SCP_ENDPOINT", "SCP_ACCESS_KEY", "SCP_SECRET_KEY"):
                os.environ.pop(name, None)
        server.stop()


def ensure_endpoints(servers: int = DEMO_SERVERS) -> dict[str, str]:
    """Use `SCP_ENDPOINTS` when set; otherwise start the demo's regions in this kernel and point SCP_* at them.

    Returns {region: URL}. Calling it again in the same kernel reuses the emulators it started.
    """
    from scp_widgets.client.regions import ENDPOINTS_ENV, format_endpoints, parse_endpoints

    global _regions
    with _guard:
        named = os.environ.get(ENDPOINTS_ENV, "").strip()
        if _regions is not None and named == format_endpoints(_regions.endpoints):
            print(f"Using the local SCP regions started earlier in this kernel: {named}")
            return _regions.endpoints
        if named:
            print(f"Using the SCP regions at {named}")
            return parse_endpoints(named)
        _regions = RegionalEmulators(list(DEMO_REGIONS), demo_config(servers)).start()
        atexit.register(_regions.stop)
        named = format_endpoints(_regions.endpoints)
        os.environ.update(SCP_ENDPOINTS=named, SCP_ACCESS_KEY=DEMO_ACCESS_KEY, SCP_SECRET_KEY=DEMO_SECRET_KEY)
    print(f"No SCP_ENDPOINTS set: started local SCP emulators for {', '.join(DEMO_REGIONS)} (demo credentials)")
    return _regions.endpoints
