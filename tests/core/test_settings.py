"""Settings: read once from the environment, typed, refusing bad values with their name.

And they refuse to run without a signing key of their own: nothing in the repository signs."""

from __future__ import annotations

import dataclasses
import secrets
import subprocess

import pytest

from core.settings import HubSettings, ScheduleSettings, SettingsError, load_settings
from realtime.hub import HubConfig
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


HUB_AND_BEAT_VARIABLES = (
    "HUB_SEND_QUEUE_FRAMES", "HUB_SEND_QUEUE_BYTES", "HUB_DIRECT_WRITES",
    "HUB_BATCH_MIN_CONNECTIONS", "HUB_BATCH_INTERVAL_MS", "HUB_ROOM_FRAMES_PER_SECOND",
    "HUB_BATCH_GROUPS", "HUB_CONNECTS_PER_ADDRESS", "HUB_CONNECTS_WINDOW_MS", "EXPIRE_SWEEP_SECONDS",
    "UNWRITTEN_SWEEP_SECONDS", "ADVANCE_SALES_SECONDS", "REPORT_SWEEP_SECONDS",
    "COMMISSION_SETTLE_SECONDS", "OUTBOX_RELAY_SECONDS", "CELERY_VISIBILITY_TIMEOUT",
    "FORWARDED_ALLOW_IPS")


@pytest.fixture
def unset_hub_and_beat(monkeypatch):
    for name in HUB_AND_BEAT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_hub_and_the_beat_are_tuned_through_settings(monkeypatch, unset_hub_and_beat):
    # given operators' values for the hub's knobs, the beat's intervals and the trusted proxy
    monkeypatch.setenv("HUB_SEND_QUEUE_FRAMES", "64")
    monkeypatch.setenv("HUB_DIRECT_WRITES", "0")
    monkeypatch.setenv("HUB_BATCH_MIN_CONNECTIONS", "1000000")
    monkeypatch.setenv("HUB_CONNECTS_PER_ADDRESS", "3")
    monkeypatch.setenv("HUB_BATCH_GROUPS", "8")
    monkeypatch.setenv("EXPIRE_SWEEP_SECONDS", "0.5")
    monkeypatch.setenv("OUTBOX_RELAY_SECONDS", "3600")
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "120")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2")

    # when the settings load
    settings = load_settings()

    # then each is a typed field, and the rest keep their defaults
    assert settings.hub == dataclasses.replace(HubSettings(), send_queue_frames=64,
                                               direct_writes=False,
                                               batch_min_connections=1_000_000,
                                               connects_per_address=3, batch_groups=8)
    assert settings.schedule == dataclasses.replace(ScheduleSettings(), expire_sweep_seconds=0.5,
                                                    outbox_relay_seconds=3600.0)
    assert settings.celery_visibility_timeout_seconds == 120.0
    assert settings.forwarded_allow_ips == "10.0.0.2"
    # and the hub runs with them
    config = HubConfig.from_settings(settings)
    assert (config.send_queue_frames, config.direct_writes, config.batch_min_connections,
            config.batch_groups) == (64, False, 1_000_000, 8)
    assert config.chat_max_length == settings.chat_max_length


def test_unset_hub_settings_give_the_hub_its_measured_defaults(unset_hub_and_beat):
    settings = load_settings()

    assert settings.hub == HubSettings()
    assert HubConfig.from_settings(settings) == HubConfig(
        chat_max_length=settings.chat_max_length,
        chat_min_interval_ms=settings.chat_min_interval_ms)


@pytest.mark.parametrize(("name", "value", "complaint"), [
    ("HUB_SEND_QUEUE_FRAMES", "lots", "must be a whole number"),
    ("HUB_SEND_QUEUE_BYTES", "512", "at least 1024"),
    ("HUB_DIRECT_WRITES", "yes", "must be 1 (on) or 0 (off)"),
    ("HUB_CONNECTS_WINDOW_MS", "10", "at least 100"),
    ("HUB_BATCH_GROUPS", "0", "at least 1"),
    ("EXPIRE_SWEEP_SECONDS", "soon", "must be a number of seconds"),
    ("ADVANCE_SALES_SECONDS", "0", "more than 0 seconds"),
    ("REPORT_SWEEP_SECONDS", "nan", "more than 0 seconds"),
    ("CELERY_VISIBILITY_TIMEOUT", "-1", "more than 0 seconds"),
    ("SESSION_COOKIE_SECURE", "yes", "must be 1 (on) or 0 (off)"),
    ("SHARE_DEFAULT_RATE_BP", "10001", "in basis points (0-10000)"),
    ("SHARE_MAX_DEPTH", "3", "1 or 2 (never more)"),
    ("COUPON_MAX_VALID_SECONDS", "59", "at least 60"),
    ("INGEST_HTTP_PORT", "65536", "a port (1-65535)"),
    ("INTERNAL_BASE_URL", "ftp://x", "http:// or https://"),
])
def test_a_bad_value_is_refused_at_start_naming_the_variable(
        monkeypatch, unset_hub_and_beat, name, value, complaint):
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=name) as refused:
        load_settings()
    assert complaint in str(refused.value)
