"""Which base URL serves each region, when one call spans several regions.

Per region, in the same order as `SCP_ENDPOINT` for one endpoint: an `endpoints={"kr-west1": URL}` argument,
then `SCP_ENDPOINTS="kr-west1=URL,kr-east1=URL"`, then the region's official host in the environment
(`environment=`, `SCP_ENVIRONMENT`, or `auth-url` in ~/.scpconf/config.json). As for one endpoint, an
explicit `environment=` asks for the official hosts and so passes over `SCP_ENDPOINTS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from scp_widgets.client.endpoints import (
    ENVIRONMENT_ENV,
    REGIONS,
    config_file,
    redact_url,
    regional_endpoint,
    validate_endpoint,
)
from scp_widgets.client.errors import EndpointError

ENDPOINTS_ENV = "SCP_ENDPOINTS"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def region_names(regions: str | Iterable[str]) -> list[str]:
    """Region names from "kr-west1,kr-east1" or a list, lower case, each once, in order."""
    raw = regions.split(",") if isinstance(regions, str) else [str(r) for r in regions]
    names = list(dict.fromkeys(r.strip().lower() for r in raw if r.strip()))
    if not names:
        raise EndpointError("No regions given: pass region names such as regions=['kr-west1', 'kr-east1'].")
    for name in names:
        if not _NAME.match(name):
            raise EndpointError(f"{name!r} is not a region name; expected something like kr-west1.")
    return names


def parse_endpoints(text: str, *, source: str = ENDPOINTS_ENV) -> dict[str, str]:
    """`kr-west1=URL,kr-east1=URL` as {region: URL}; each URL checked as an explicit endpoint."""
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        region, sep, url = part.partition("=")
        if not sep or not _NAME.match(region.strip().lower()) or not url.strip():
            raise EndpointError(f"{source} should read REGION=URL,REGION=URL; cannot read {redact_url(part)!r}.")
        name = region_names([region])[0]
        if name in found:  # the last one silently won: a typo would send one region's locks elsewhere
            raise EndpointError(f"{source} names region {name} twice; give each region one URL.")
        found[name] = validate_endpoint(url)
    return found


def resolve_region_endpoints(
    regions: str | Iterable[str] | None,
    *,
    endpoints: Mapping[str, str] | None = None,
    environment: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{region: base URL} for every region asked for (all of `endpoints` when `regions` is None)."""
    env = os.environ if env is None else env
    given: dict[str, str] = {}
    for key, value in (endpoints or {}).items():
        name = region_names([key])[0]
        if name in given:
            raise EndpointError(f"endpoints= names region {name} twice ({key!r} too); give each region one URL.")
        given[name] = validate_endpoint(value)
    names = region_names(regions if regions is not None else list(given))
    from_env = {}
    if environment is None and env.get(ENDPOINTS_ENV, "").strip():
        from_env = parse_endpoints(env[ENDPOINTS_ENV])
    resolved: dict[str, str] = {}
    for name in names:
        url = given.get(name) or from_env.get(name)
        resolved[name] = url or regional_endpoint(name, _environment(name, environment, env))
    return resolved


def _environment(region: str, environment: str | None, env: Mapping[str, str]) -> str:
    chosen = environment or env.get(ENVIRONMENT_ENV, "").strip() or config_file(env)[1]
    if not chosen:
        raise EndpointError(
            f"No endpoint for region {region}: give endpoints={{{region!r}: URL}}, set {ENDPOINTS_ENV}, or set "
            f"the SCP environment ({ENVIRONMENT_ENV}: {', '.join(REGIONS)}) for its official host."
        )
    return chosen


def format_endpoints(endpoints: Mapping[str, str]) -> str:
    """The `SCP_ENDPOINTS` value for a map (what the emulator prints)."""
    return ",".join(f"{region}={url}" for region, url in endpoints.items())
