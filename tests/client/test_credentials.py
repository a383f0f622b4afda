"""Where credentials come from, in which order, and that the secret never shows itself."""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path

import pytest

from scp_widgets.client.credentials import Credentials, Secret, resolve_credentials
from scp_widgets.client.errors import CredentialsError, ScpUsageError

SECRET = "s3cr3t-VALUE-9f8e7d"


def write_file(directory: Path, data: object) -> Path:
    path = directory / "credentials.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment that points the config folder at tmp_path, so the real home is never read."""
    return {"SCP_CONFIG_DIR": str(tmp_path), **extra}


def assert_one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    # no sentence break inside (a period followed by a space and a capital letter)
    assert not re.search(r"\.\s+[A-Z]", message), message


# -- the order --------------------------------------------------------------------------------------------


def test_arguments_beat_environment_and_file(tmp_path: Path) -> None:
    write_file(tmp_path, {"access-key": "file-ak", "secret-key": "file-sk"})
    env = env_for(tmp_path, SCP_ACCESS_KEY="env-ak", SCP_SECRET_KEY="env-sk")
    creds = resolve_credentials("arg-ak", "arg-sk", env=env)
    assert creds.access_key == "arg-ak"
    assert creds.secret_key.reveal() == "arg-sk"
    assert creds.source == "arguments"


def test_argument_secret_may_already_be_a_secret(tmp_path: Path) -> None:
    secret = Secret("arg-sk")
    creds = resolve_credentials("arg-ak", secret, env=env_for(tmp_path))
    assert creds.secret_key is secret


def test_environment_beats_file(tmp_path: Path) -> None:
    write_file(tmp_path, {"access-key": "file-ak", "secret-key": "file-sk"})
    creds = resolve_credentials(env=env_for(tmp_path, SCP_ACCESS_KEY=" env-ak ", SCP_SECRET_KEY="env-sk\n"))
    assert (creds.access_key, creds.secret_key.reveal(), creds.source) == ("env-ak", "env-sk", "environment")


def test_file_is_the_last_resort(tmp_path: Path) -> None:
    path = write_file(tmp_path, {"access-key": "file-ak", "secret-key": "file-sk"})
    creds = resolve_credentials(env=env_for(tmp_path))
    assert (creds.access_key, creds.secret_key.reveal()) == ("file-ak", "file-sk")
    assert creds.source == str(path)


def test_blank_environment_values_fall_through_to_the_file(tmp_path: Path) -> None:
    write_file(tmp_path, {"access-key": "file-ak", "secret-key": "file-sk"})
    creds = resolve_credentials(env=env_for(tmp_path, SCP_ACCESS_KEY="  ", SCP_SECRET_KEY=""))
    assert creds.access_key == "file-ak"


# -- failures ---------------------------------------------------------------------------------------------


def test_missing_everywhere_names_all_three_places_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(env=env_for(tmp_path))
    message = str(info.value)
    assert "access_key=" in message
    assert "secret_key=" in message
    assert "SCP_ACCESS_KEY" in message
    assert "SCP_SECRET_KEY" in message
    assert str(tmp_path / "credentials.json") in message
    assert_one_sentence(message)
    assert isinstance(info.value, ScpUsageError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("access", "secret", "missing"),
    [("arg-ak", None, "secret_key"), (None, "arg-sk", "access_key"), ("arg-ak", "", "secret_key")],
)
def test_half_given_arguments(tmp_path: Path, access: str | None, secret: str | None, missing: str) -> None:
    # A complete pair in the environment must not quietly paper over the half-given arguments.
    env = env_for(tmp_path, SCP_ACCESS_KEY="env-ak", SCP_SECRET_KEY="env-sk")
    with pytest.raises(CredentialsError, match=missing) as info:
        resolve_credentials(access, secret, env=env)
    assert_one_sentence(str(info.value))


@pytest.mark.parametrize(
    ("env_extra", "missing"),
    [({"SCP_ACCESS_KEY": "env-ak"}, "SCP_SECRET_KEY"), ({"SCP_SECRET_KEY": SECRET}, "SCP_ACCESS_KEY")],
)
def test_half_given_environment(tmp_path: Path, env_extra: dict[str, str], missing: str) -> None:
    write_file(tmp_path, {"access-key": "file-ak", "secret-key": "file-sk"})
    with pytest.raises(CredentialsError, match=f"{missing} is not set") as info:
        resolve_credentials(env=env_for(tmp_path, **env_extra))
    assert SECRET not in str(info.value)
    assert_one_sentence(str(info.value))


@pytest.mark.parametrize(
    "data",
    [
        {"access-key": "file-ak"}, {"secret-key": SECRET}, {"access-key": "", "secret-key": SECRET}, ["a", "b"],
        # a template not filled in: null is missing, never the text "None" signing every request
        {"access-key": "file-ak", "secret-key": None}, {"access-key": None, "secret-key": SECRET},
        {"access-key": "  ", "secret-key": SECRET}, {"access-key": "file-ak", "secret-key": " "},
    ],
)  # fmt: skip
def test_half_given_file(tmp_path: Path, data: object) -> None:
    write_file(tmp_path, data)
    with pytest.raises(CredentialsError, match="needs both access-key and secret-key") as info:
        resolve_credentials(env=env_for(tmp_path))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("key", ["AKID\nq7Rv0b", "AKID q7Rv0b", "AKID\tq7", "AKID\x00q7", "ÀKID"])
def test_an_access_key_that_cannot_go_in_a_header_is_one_sentence(tmp_path: Path, key: str) -> None:
    # pasted across a wrapped line: aiohttp refused the header mid-run, a 24-frame ValueError, no frame
    write_file(tmp_path, {"access-key": key, "secret-key": SECRET})
    for resolve in (
        lambda: resolve_credentials(key, SECRET, env=env_for(tmp_path)),
        lambda: resolve_credentials(env=env_for(tmp_path, SCP_ACCESS_KEY=key, SCP_SECRET_KEY=SECRET)),
        lambda: resolve_credentials(env=env_for(tmp_path)),
    ):
        with pytest.raises(CredentialsError, match="holds a space, line break or other odd character") as info:
            resolve()
        assert SECRET not in str(info.value) and key not in str(info.value)
        assert_one_sentence(str(info.value))
    assert resolve_credentials("  AKID \n", SECRET, env=env_for(tmp_path)).access_key == "AKID"  # ends are stripped


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"access-key": 12345, "secret-key": SECRET},
            "The access key from .*credentials.json must be text, not an int",
        ),
        ({"access-key": {"k": 1}, "secret-key": SECRET}, "must be text, not a dict"),
        (
            {"access-key": "file-ak", "secret-key": ["x"]},
            "The secret key in .*credentials.json must be text, not a list",
        ),
    ],
)
def test_a_field_that_is_not_text_says_so_as_from_the_arguments(tmp_path: Path, data: object, words: str) -> None:
    # a number for the access key said "needs both access-key and secret-key" though both were there
    write_file(tmp_path, data)
    with pytest.raises(CredentialsError, match=words) as info:
        resolve_credentials(env=env_for(tmp_path))
    assert SECRET not in str(info.value)
    assert_one_sentence(str(info.value))


def test_unreadable_json_file(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text('{"access-key": "ak", "secret-key": "' + SECRET, encoding="utf-8")
    with pytest.raises(CredentialsError, match="not readable JSON") as info:
        resolve_credentials(env=env_for(tmp_path))
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__  # the JSON error (which quotes the file) is not chained


# -- the secret never shows -------------------------------------------------------------------------------


def test_secret_is_masked_everywhere() -> None:
    secret = Secret(SECRET)
    shown = [
        repr(secret),
        str(secret),
        format(secret),
        format(secret, ">40"),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret:s}",
        "%s" % secret,  # noqa: UP031
        "%r" % secret,  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"k": secret}),
    ]
    for text in shown:
        assert SECRET not in text, text
        assert "********" in text
    assert secret.reveal() == SECRET


def test_secret_equality_without_showing() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1


def test_credentials_are_masked_everywhere() -> None:
    creds = Credentials("AKIDEXAMPLE12345", Secret(SECRET), "environment")
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", "%s" % (creds,), repr([creds])):  # noqa: UP031
        assert SECRET not in text, text
        assert "AKIDEXAMPLE12345" not in text, text  # the access key is masked too
        assert "environment" in text


def test_pickling_a_secret_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(SECRET))
    with pytest.raises(TypeError):
        pickle.dumps(Credentials("ak", Secret(SECRET)))
    with pytest.raises(TypeError):
        copy.deepcopy(Secret(SECRET))
