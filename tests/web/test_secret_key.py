"""`livesell run` signs with a random key of its own, made once in the data folder and reused."""

from __future__ import annotations

import os
import stat

import pytest

from core.settings import MIN_SECRET_KEY_LENGTH
from web import cli
from web.embedded import load_or_create_secret_key


def test_the_key_file_is_made_once_private_and_reused(tmp_path):
    # given a fresh data folder
    path = tmp_path / "data" / "secret_key"

    # when the key is asked for twice (two starts)
    first = load_or_create_secret_key(path)
    second = load_or_create_secret_key(path)

    # then one long random key, kept in a file only its owner can read
    assert first == second
    assert len(first) >= MIN_SECRET_KEY_LENGTH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary left


def test_each_install_gets_its_own_key(tmp_path):
    assert load_or_create_secret_key(tmp_path / "a") != load_or_create_secret_key(tmp_path / "b")


def test_a_key_file_readable_by_others_is_made_private_again(tmp_path):
    path = tmp_path / "secret_key"
    key = load_or_create_secret_key(path)
    os.chmod(path, 0o644)

    assert load_or_create_secret_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_key_file_gets_a_key(tmp_path):
    # given the empty file a crash during the first start could leave
    path = tmp_path / "secret_key"
    path.write_text("")

    key = load_or_create_secret_key(path)

    assert len(key) >= MIN_SECRET_KEY_LENGTH and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_cli_uses_the_environment_key_when_set_else_the_data_folder_key(
        tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "x" * 32)

    cli.ensure_secret_key()

    assert os.environ["SECRET_KEY"] == "from-the-environment-" + "x" * 32
    assert not (tmp_path / "secret_key").exists()

    monkeypatch.delenv("SECRET_KEY")
    cli.ensure_secret_key()

    assert os.environ["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()
