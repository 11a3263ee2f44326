"""Settings refuse to run without a signing key of their own: nothing in the repository signs."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from core.settings import SettingsError, load_settings
from tests.infra import ROOT


def test_a_missing_secret_key_is_refused_with_a_way_to_make_one(monkeypatch):
    # given no SECRET_KEY, in development (the old fallback's case)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("LIVESELL_ENV", "development")

    # when the settings load, then they refuse and say how to make a key
    with pytest.raises(SettingsError, match="SECRET_KEY is not set") as refused:
        load_settings()
    assert "token_urlsafe" in str(refused.value)


def test_a_missing_secret_key_is_refused_in_the_test_environment_too(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(SettingsError, match="SECRET_KEY is not set"):
        load_settings()


def test_a_short_secret_key_is_refused_outside_tests(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "hunter2-but-longer")
    monkeypatch.setenv("LIVESELL_ENV", "production")

    with pytest.raises(SettingsError, match="too short"):
        load_settings()


def test_a_placeholder_secret_key_is_refused_outside_tests(monkeypatch):
    # given the kind of value that example files ship, long enough to pass the length check
    monkeypatch.setenv("SECRET_KEY", "please-changeme-before-we-go-live-on-air")
    monkeypatch.delenv("LIVESELL_ENV", raising=False)

    with pytest.raises(SettingsError, match="placeholder"):
        load_settings()


def test_a_random_secret_key_is_accepted_and_never_printed(monkeypatch):
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("LIVESELL_ENV", "production")

    settings = load_settings()

    assert settings.secret_key.reveal() == key
    assert key not in repr(settings)


def test_no_signing_key_is_left_in_the_repository():
    # The constant that used to sign tokens and webhooks when SECRET_KEY was unset, and the
    # value docker-compose.yml shipped; spelled in pieces so that this file does not hold them.
    public_keys = ["development-only-" + "secret-key-change-me", "change-me-" + "in-production"]
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    holders = []
    for name in filter(None, tracked):
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        holders += [f"{name}: {key}" for key in public_keys if key in text]
    assert holders == []
