"""Several regions at once: one emulator, with its own fleet, on its own loopback port per region.

Region ids are regional in SCP: a server of kr-west1 does not exist in kr-east1. The first region serves the
fleet of the given config exactly (so the default fleet's ids still work there); each further region gets the
same shape with another seed, hence other ids.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from .app import Emulator
from .config import EmulatorConfig
from .server import EmulatorServer

#: Seed distance between regions' fleets.
REGION_SEED_STEP = 1000


def region_configs(regions: list[str], base: EmulatorConfig) -> dict[str, EmulatorConfig]:
    return {
        region: dataclasses.replace(base, seed=base.seed + index * REGION_SEED_STEP)
        for index, region in enumerate(regions)
    }


class RegionalEmulators:
    """`with RegionalEmulators(["kr-west1", "kr-east1"]) as regions: regions.endpoints` -> {region: URL}."""

    def __init__(
        self,
        regions: list[str],
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not regions or len(set(regions)) != len(regions):
            raise ValueError("regions must be a non-empty list of distinct names")
        configs = region_configs(regions, config or EmulatorConfig())
        self.emulators = {region: Emulator(cfg) for region, cfg in configs.items()}
        # A fixed port is the first region's; the next regions take the following ports.
        self.servers = {
            region: EmulatorServer(emulator, host=host, port=port + index if port else 0)
            for index, (region, emulator) in enumerate(self.emulators.items())
        }

    @property
    def endpoints(self) -> dict[str, str]:
        return {region: server.url for region, server in self.servers.items()}

    def start(self) -> RegionalEmulators:
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> RegionalEmulators:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def add_regions_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regions",
        type=_region_list,
        default=None,
        metavar="R1,R2",
        help="serve several regions, each with its own fleet on its own port (e.g. kr-west1,kr-east1); "
        "prints `export SCP_ENDPOINTS=...`, and SCP_ENDPOINT is the first region",
    )


def _region_list(text: str) -> list[str]:
    names = list(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"expected region names such as kr-west1,kr-east1, got {text!r}")
    return names


@contextmanager
def serving(regions: list[str] | None, config: EmulatorConfig, *, host: str, port: int) -> Iterator[tuple[str, str]]:
    """Serve one emulator, or one per region; yields the (first) URL and the lines that name each region."""
    if not regions:
        with EmulatorServer(Emulator(config), host=host, port=port) as server:
            yield server.url, ""
        return
    with RegionalEmulators(regions, config, host=host, port=port) as running:
        urls = running.endpoints
        lines = "".join(f"  region {region}: {url}\n" for region, url in urls.items())
        mapping = ",".join(f"{region}={url}" for region, url in urls.items())
        yield urls[regions[0]], f"{lines}export SCP_ENDPOINTS={mapping}\n"
