"""A local, strict emulator of the Samsung Cloud Platform Virtual Server API.

It is the ground truth the client is tested against, so it imports nothing from the rest of scp_widgets.
In process: `httpx.AsyncClient(transport=Emulator().transport())`; over a socket: `EmulatorServer`;
from a shell: `python -m scp_widgets.emulator`.
"""

from .app import Emulator
from .config import (
    DEFAULT_VERSIONS,
    DEMO_ACCESS_KEY,
    DEMO_ACCOUNT_ID,
    DEMO_FOREIGN_SERVERS,
    DEMO_LOCK_DELAY,
    DEMO_SECRET_KEY,
    DEMO_SEED,
    DEMO_SERVERS,
    ApiVersion,
    EmulatorConfig,
    Faults,
)
from .record import RequestRecord
from .server import EmulatorServer

__all__ = [
    "DEFAULT_VERSIONS",
    "DEMO_ACCESS_KEY",
    "DEMO_ACCOUNT_ID",
    "DEMO_FOREIGN_SERVERS",
    "DEMO_LOCK_DELAY",
    "DEMO_SECRET_KEY",
    "DEMO_SEED",
    "DEMO_SERVERS",
    "ApiVersion",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Faults",
    "RequestRecord",
]
