"""Where the access key and secret key come from, and a secret type that never shows itself.

Order: explicit arguments, then `SCP_ACCESS_KEY` / `SCP_SECRET_KEY`, then `~/.scpconf/credentials.json`
(`{"access-key": ..., "secret-key": ...}`, the file the official Terraform provider reads).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scp_widgets.client.errors import CredentialsError
from scp_widgets.client.wording import a_type

ACCESS_KEY_ENV = "SCP_ACCESS_KEY"
SECRET_KEY_ENV = "SCP_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)
CONFIG_DIR_ENV = "SCP_CONFIG_DIR"


class Secret:
    """A string that is masked in repr, str and format; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the secret to disk (widget state, caches): refuse rather than leak.
        raise TypeError("a Secret cannot be pickled")


def as_secret(value: str | Secret | None) -> Secret | None:
    """Wrap a secret given in clear, at the door; an empty one is no secret (so the lookup goes on)."""
    if isinstance(value, str):
        return Secret(value) if value.strip() else None
    if value is None or isinstance(value, Secret):
        return value
    raise CredentialsError(f"secret_key must be a string, not {a_type(value)}.")


def environment_values(env: Mapping[str, str] | None, names: tuple[str, ...]) -> dict[str, str]:
    """Only the variables a resolver reads: its frame never holds all of os.environ (and the secrets in it)."""
    source = os.environ if env is None else env
    return {name: source[name] for name in names if name in source}


def _environment_secret(env: Mapping[str, str] | None) -> Secret | None:
    return as_secret((os.environ if env is None else env).get(SECRET_KEY_ENV, "").strip())


def mask(value: str, keep: int = 4) -> str:
    """Show enough of an identifier to recognise it, never the whole thing."""
    return value[:keep] + "…" if len(value) > keep else "…"


@dataclass(frozen=True, repr=False)
class Credentials:
    access_key: str
    secret_key: Secret
    source: str = "arguments"

    def __repr__(self) -> str:
        return (
            f"Credentials(access_key={mask(self.access_key)!r}, secret_key=Secret('********'), source={self.source!r})"
        )

    __str__ = __repr__


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`~/.scpconf`, or the folder `SCP_CONFIG_DIR` names."""
    env = os.environ if env is None else env
    return Path(env.get(CONFIG_DIR_ENV) or Path.home() / ".scpconf").expanduser()


def _places(directory: Path, *, in_python: bool = True) -> str:
    where = f"set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or write access-key and secret-key to "
    return ("pass access_key= and secret_key=, " if in_python else "") + where + str(directory / "credentials.json")


def resolve_credentials(
    access_key: str | None = None,
    secret_key: str | Secret | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Find credentials in the documented order; raise `CredentialsError` (one sentence) when there are none.

    The secret is wrapped first and read from the environment straight into a `Secret`, so no frame here
    holds it (or the environment) in clear, even when an error is raised.
    """
    secret_key = as_secret(secret_key)
    env_secret = _environment_secret(env) if secret_key is None and not access_key else None
    env = environment_values(env, (ACCESS_KEY_ENV, CONFIG_DIR_ENV))
    directory = config_dir(env)
    if access_key or secret_key:
        if not (access_key and secret_key):
            missing = "secret_key" if access_key else "access_key"
            raise CredentialsError(f"{missing} is missing: give both access_key and secret_key, or neither.")
        return Credentials(checked_access_key(access_key, "the arguments"), secret_key, "arguments")

    env_access = env.get(ACCESS_KEY_ENV, "").strip()
    if env_access or env_secret:
        if not (env_access and env_secret):
            missing = SECRET_KEY_ENV if env_access else ACCESS_KEY_ENV
            raise CredentialsError(f"{missing} is not set: set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}.")
        return Credentials(checked_access_key(env_access, ACCESS_KEY_ENV), env_secret, "environment")

    path = directory / "credentials.json"
    if path.is_file():
        return _from_file(path)
    raise CredentialsError(
        f"No SCP credentials found: {_places(directory)}.",
        outside_python=f"No SCP credentials found: {_places(directory, in_python=False)}.",
    )


def _from_file(path: Path) -> Credentials:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path} is not readable JSON ({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        data = {}
    # a field left null or empty (a template not filled in) is missing, never the text "None"; any other
    # value that is not text is the same sentence as from the arguments
    access = data.get("access-key")
    raw_secret = data.get("secret-key")
    secret = as_secret(raw_secret if isinstance(raw_secret, str) or raw_secret is None else _not_text(raw_secret, path))
    del data, raw_secret  # the file's secret in clear: not in this frame when the error below is raised
    if access is not None and not (isinstance(access, str) and not access.strip()) and secret:
        return Credentials(checked_access_key(access, str(path)), secret, str(path))
    raise CredentialsError(f"{path} needs both access-key and secret-key.")


def _not_text(value: Any, path: Path) -> str:
    raise CredentialsError(f"The secret key in {path} must be text, not {a_type(value)}.")


def checked_access_key(access_key: Any, source: str) -> str:
    """The access key, stripped; one sentence (before anything is sent) when it cannot go in a header: a line
    break or space inside (a key pasted across a wrapped line), or not text at all."""
    if not isinstance(access_key, str):
        raise CredentialsError(f"The access key from {source} must be text, not {a_type(access_key)}.")
    key = access_key.strip()
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in key):
        raise CredentialsError(
            f"The access key from {source} holds a space, line break or other odd character inside "
            "(pasted across lines?); give it on one line."
        )
    return key


def wrap_secret(options: dict[str, Any]) -> None:
    """Replace a clear `secret_key` in the caller's own options dict: from here on no frame holds it in clear."""
    if "secret_key" in options:
        options["secret_key"] = as_secret(options["secret_key"])
