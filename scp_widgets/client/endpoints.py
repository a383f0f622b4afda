"""Which base URL to talk to.

`https://virtualserver.{region}.{environment}.samsungsdscloud.com` from an environment and a region, or an
explicit endpoint (how the emulator is reached). Explicit arguments beat `SCP_ENDPOINT`, which beats
`SCP_REGION` + `SCP_ENVIRONMENT`, which beat `default-region` + `auth-url` in `~/.scpconf/config.json`.
Plain `http://` is refused except to a loopback address, so a secret-signed request never crosses a network
in clear text.
"""

from __future__ import annotations

import ipaddress
import json
import re
import warnings
from collections.abc import Mapping

import httpx

from scp_widgets.client.credentials import CONFIG_DIR_ENV, config_dir, environment_values
from scp_widgets.client.errors import EndpointError

ENDPOINT_ENV = "SCP_ENDPOINT"
REGION_ENV = "SCP_REGION"
ENVIRONMENT_ENV = "SCP_ENVIRONMENT"

#: The documented environments and their regions (scp-openapi.md section 2).
REGIONS: Mapping[str, tuple[str, ...]] = {
    "s": ("kr-west1", "kr-east1"),
    "g": ("kr-south1", "kr-south2", "kr-south3"),
    "e": ("kr-west1", "kr-east1"),
}

_AUTH_URL_ENV = re.compile(r"^https://iam\.([a-z0-9-]+)\.samsungsdscloud\.com(?:/|$)")


def regional_endpoint(region: str, environment: str) -> str:
    """The Virtual Server host for a region of an environment; unknown names raise `EndpointError`."""
    environment, region = environment.strip().lower(), region.strip().lower()
    if environment not in REGIONS:
        raise EndpointError(f"Unknown SCP environment {environment!r}; valid environments: {', '.join(REGIONS)}.")
    if region not in REGIONS[environment]:
        valid = ", ".join(REGIONS[environment])
        raise EndpointError(f"Unknown region {region!r} in environment {environment!r}; valid regions: {valid}.")
    return f"https://virtualserver.{region}.{environment}.samsungsdscloud.com"


def is_loopback(host: str) -> bool:
    """A literal loopback address, or `localhost` itself (not `*.localhost`: any resolver may answer for those)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redact_url(url: object) -> str:
    """A URL fit for a message: no user name or password, no query or fragment (`?token=...`)."""
    text = _AFTER_PATH.sub("?***", str(url).strip())
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"


_AFTER_PATH = re.compile(r"[?#].*$", re.DOTALL)


def validate_endpoint(url: str) -> str:
    """Check an explicit base URL and return it without a trailing slash. No message echoes a secret a URL
    may carry (user info, a query or fragment): they show as ***."""
    text = url.strip().rstrip("/")
    shown = redact_url(url)
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise EndpointError(f"{shown!r} is not a valid URL; expected something like https://host.") from None
    if parsed.userinfo:  # checked first: no later message may echo a password
        raise EndpointError(
            "The endpoint must not carry a user name or password; SCP keys go in SCP_ACCESS_KEY and SCP_SECRET_KEY."
        )
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EndpointError(f"{shown!r} is not an http(s) URL with a host; expected something like https://host.")
    if parsed.query or parsed.fragment:
        raise EndpointError(f"The endpoint {shown!r} must not have a query or fragment.")
    if parsed.port is not None and not 0 < parsed.port < 65536:  # httpx takes it; aiohttp refuses it mid-run
        raise EndpointError(f"The endpoint {shown!r} has port {parsed.port}; a port is 1 to 65535.")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise EndpointError(
            f"Refusing plain http:// to {parsed.host}: signed requests must use https:// "
            "unless the endpoint is a loopback address (127.0.0.1, ::1, localhost)."
        )
    return _without_version_path(text, parsed)


def _without_version_path(text: str, parsed: httpx.URL) -> str:
    """`https://host/v1` is the likeliest mistake (the docs show `/v1/servers/...`): the client adds `/v1`
    itself, so `/v1/v1/servers/...` would be sent and read as "server not found". Drop it, and say so once."""
    path = parsed.path.rstrip("/")
    if not path.lower().endswith("/v1"):
        return text
    base = text[: len(text) - len(parsed.path)] + path[: -len("/v1")]
    warnings.warn(
        f"The endpoint ends in /v1, which the client adds to every path itself: using {base}.",
        EndpointNote,
        stacklevel=4,
    )
    return base


class EndpointNote(UserWarning):
    """A note about an endpoint the client corrected (a trailing /v1)."""


def config_file(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(region, environment) from `~/.scpconf/config.json`, each None when absent."""
    path = config_dir(env) / "config.json"
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EndpointError(f"{path} is not readable JSON ({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        raise EndpointError(f"{path} should hold a JSON object with default-region and auth-url.")
    region = data.get("default-region")
    match = _AUTH_URL_ENV.match(str(data.get("auth-url", "")))
    return (str(region) if region else None), (match.group(1) if match else None)


def resolve_endpoint(
    endpoint: str | None = None,
    *,
    region: str | None = None,
    environment: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Pick the base URL in the documented order; raise `EndpointError` (one sentence) when none fits."""
    env = environment_values(env, (ENDPOINT_ENV, REGION_ENV, ENVIRONMENT_ENV, CONFIG_DIR_ENV))
    if endpoint:
        return validate_endpoint(endpoint)
    if not (region or environment) and env.get(ENDPOINT_ENV, "").strip():
        return validate_endpoint(env[ENDPOINT_ENV])
    region = region or env.get(REGION_ENV, "").strip() or None
    environment = environment or env.get(ENVIRONMENT_ENV, "").strip() or None
    # config.json is the last resort: only read (and only able to fail) when something is still missing
    file_region, file_environment = config_file(env) if not (region and environment) else (None, None)
    region = region or file_region
    environment = environment or file_environment
    if region and environment:
        return regional_endpoint(region, environment)
    if region:
        known = [name for name, regions in REGIONS.items() if region.strip().lower() in regions]
        if not known:
            every = ", ".join(dict.fromkeys(r for regions in REGIONS.values() for r in regions))
            raise EndpointError(f"Unknown region {region!r}; SCP regions: {every}.")
        raise EndpointError(
            f"The SCP environment (SCP_ENVIRONMENT) is not set for region {region}; it is in: {', '.join(known)}."
        )
    if environment:
        name = environment.strip().lower()
        if name not in REGIONS:
            raise EndpointError(f"Unknown SCP environment {environment!r}; valid environments: {', '.join(REGIONS)}.")
        raise EndpointError(
            f"The SCP region (SCP_REGION) is not set; regions of environment {name!r}: {', '.join(REGIONS[name])}."
        )
    raise EndpointError(
        f"No SCP endpoint configured: set {ENDPOINT_ENV} (or {REGION_ENV} and {ENVIRONMENT_ENV}), give an "
        "endpoint (or a region and an environment), or run `scp-widgets emulator` for a local one."
    )
