"""Which base URL a client talks to, and which ones it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scp_widgets.client.endpoints import regional_endpoint, resolve_endpoint, validate_endpoint
from scp_widgets.client.errors import EndpointError, ScpUsageError


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment whose config folder is tmp_path, so the real ~/.scpconf is never read."""
    return {"SCP_CONFIG_DIR": str(tmp_path), **extra}


def write_config(directory: Path, data: object) -> None:
    (directory / "config.json").write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("environment", "region"),
    [("s", "kr-west1"), ("s", "kr-east1"), ("g", "kr-south1"), ("g", "kr-south3"), ("e", "kr-east1")],
)
def test_environment_and_region_make_the_regional_host(tmp_path: Path, environment: str, region: str) -> None:
    url = f"https://virtualserver.{region}.{environment}.samsungsdscloud.com"
    assert regional_endpoint(region, environment) == url
    assert resolve_endpoint(region=region, environment=environment, env=env_for(tmp_path)) == url
    env = env_for(tmp_path, SCP_REGION=region, SCP_ENVIRONMENT=environment)
    assert resolve_endpoint(env=env) == url


def test_names_are_trimmed_and_lower_cased() -> None:
    assert regional_endpoint(" KR-West1 ", "E") == "https://virtualserver.kr-west1.e.samsungsdscloud.com"


def test_scp_endpoint_variable(tmp_path: Path) -> None:
    env = env_for(tmp_path, SCP_ENDPOINT="http://127.0.0.1:8765/", SCP_REGION="kr-west1", SCP_ENVIRONMENT="e")
    assert resolve_endpoint(env=env) == "http://127.0.0.1:8765"


def test_scp_endpoint_beats_config_file(tmp_path: Path) -> None:
    write_config(tmp_path, {"default-region": "kr-west1", "auth-url": "https://iam.e.samsungsdscloud.com/v1"})
    assert resolve_endpoint(env=env_for(tmp_path, SCP_ENDPOINT="https://scp.example.com")) == (
        "https://scp.example.com"
    )


def test_explicit_endpoint_beats_everything(tmp_path: Path) -> None:
    write_config(tmp_path, {"default-region": "kr-west1", "auth-url": "https://iam.e.samsungsdscloud.com/v1"})
    env = env_for(tmp_path, SCP_ENDPOINT="https://from-env.example.com", SCP_REGION="kr-east1", SCP_ENVIRONMENT="s")
    assert resolve_endpoint("https://explicit.example.com", region="kr-south1", environment="g", env=env) == (
        "https://explicit.example.com"
    )


def test_explicit_region_and_environment_beat_the_environment(tmp_path: Path) -> None:
    env = env_for(tmp_path, SCP_ENDPOINT="https://from-env.example.com", SCP_REGION="kr-east1", SCP_ENVIRONMENT="s")
    assert resolve_endpoint(region="kr-south2", environment="g", env=env) == (
        "https://virtualserver.kr-south2.g.samsungsdscloud.com"
    )


def test_explicit_region_with_environment_from_variables(tmp_path: Path) -> None:
    env = env_for(tmp_path, SCP_REGION="kr-west1", SCP_ENVIRONMENT="s")
    assert resolve_endpoint(region="kr-east1", env=env) == "https://virtualserver.kr-east1.s.samsungsdscloud.com"


def test_config_file_default_region_and_auth_url(tmp_path: Path) -> None:
    write_config(tmp_path, {"default-region": "kr-east1", "auth-url": "https://iam.s.samsungsdscloud.com/v1"})
    assert resolve_endpoint(env=env_for(tmp_path)) == "https://virtualserver.kr-east1.s.samsungsdscloud.com"


def test_environment_variables_beat_config_file(tmp_path: Path) -> None:
    write_config(tmp_path, {"default-region": "kr-east1", "auth-url": "https://iam.s.samsungsdscloud.com/v1"})
    env = env_for(tmp_path, SCP_REGION="kr-south1", SCP_ENVIRONMENT="g")
    assert resolve_endpoint(env=env) == "https://virtualserver.kr-south1.g.samsungsdscloud.com"


def test_config_file_fills_only_what_is_missing(tmp_path: Path) -> None:
    write_config(tmp_path, {"default-region": "kr-east1", "auth-url": "https://iam.e.samsungsdscloud.com/v1"})
    env = env_for(tmp_path, SCP_REGION="kr-west1")
    assert resolve_endpoint(env=env) == "https://virtualserver.kr-west1.e.samsungsdscloud.com"


def test_unreadable_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EndpointError, match="not readable JSON"):
        resolve_endpoint(env=env_for(tmp_path))


def test_broken_config_file_does_not_block_complete_variables(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    env = env_for(tmp_path, SCP_REGION="kr-west1", SCP_ENVIRONMENT="e")
    assert resolve_endpoint(env=env) == "https://virtualserver.kr-west1.e.samsungsdscloud.com"
    assert resolve_endpoint(region="kr-east1", environment="s", env=env_for(tmp_path)) == (
        "https://virtualserver.kr-east1.s.samsungsdscloud.com"
    )


def test_unknown_environment_lists_the_valid_ones() -> None:
    with pytest.raises(EndpointError) as info:
        regional_endpoint("kr-west1", "x")
    message = str(info.value)
    assert "'x'" in message
    assert "s, g, e" in message
    assert isinstance(info.value, ScpUsageError)


def test_unknown_region_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(EndpointError) as info:
        resolve_endpoint(region="kr-north9", environment="g", env=env_for(tmp_path))
    message = str(info.value)
    assert "'kr-north9'" in message
    assert "kr-south1, kr-south2, kr-south3" in message


def test_region_of_another_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EndpointError, match="kr-west1, kr-east1"):
        resolve_endpoint(region="kr-south1", environment="e", env=env_for(tmp_path))


@pytest.mark.parametrize(
    "url",
    [
        "http://scp.example.com",
        "http://10.0.0.5:8080",
        "http://0.0.0.0:8000",
        "http://localhost.example.com",
        "http://evil.localhost:8000",  # a name, resolved by whatever DNS says, not the loopback interface
        "http://api.localhost",
        "http://virtualserver.kr-west1.e.samsungsdscloud.com",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(EndpointError, match="Refusing plain http://"):
        resolve_endpoint(url, env=env_for(tmp_path))
    with pytest.raises(EndpointError):
        resolve_endpoint(env=env_for(tmp_path, SCP_ENDPOINT=url))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("http://localhost", "http://localhost"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("http://[::1]", "http://[::1]"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://scp.example.com", "https://scp.example.com"),
        ("https://10.0.0.5:8443/prefix/", "https://10.0.0.5:8443/prefix"),
        (
            "https://virtualserver.kr-west1.e.samsungsdscloud.com",
            "https://virtualserver.kr-west1.e.samsungsdscloud.com",
        ),
    ],
)
def test_allowed_endpoints(url: str, expected: str) -> None:
    assert validate_endpoint(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://scp.example.com", "scp.example.com", "https://", "https://h.example.com/?a=1", "not a url"]
)
def test_malformed_endpoints_are_refused(url: str) -> None:
    with pytest.raises(EndpointError):
        validate_endpoint(url)


def test_nothing_configured(tmp_path: Path) -> None:
    with pytest.raises(EndpointError) as info:
        resolve_endpoint(env=env_for(tmp_path))
    message = str(info.value)
    assert "emulator" in message
    assert "SCP_ENDPOINT" in message
    assert "SCP_REGION" in message
    assert "SCP_ENVIRONMENT" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("extra", "missing"),
    [({"SCP_REGION": "kr-west1"}, "environment"), ({"SCP_ENVIRONMENT": "e"}, "region")],
)
def test_half_configured(tmp_path: Path, extra: dict[str, str], missing: str) -> None:
    with pytest.raises(EndpointError, match=f"SCP {missing}"):
        resolve_endpoint(env=env_for(tmp_path, **extra))


def test_an_endpoint_with_credentials_in_it_is_refused_without_echoing_them() -> None:
    with pytest.raises(EndpointError) as info:
        validate_endpoint("https://me:hunter2@virtualserver.kr-west1.s.samsungsdscloud.com")
    assert "hunter2" not in str(info.value)
