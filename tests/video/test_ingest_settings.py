"""The ingest's settings (INGEST_*): typed, with defaults that match each other, failing fast."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, ingest_settings

INGEST_VARIABLES = ("INGEST_RTMP_BIND", "INGEST_RTMP_PORT", "INGEST_HTTP_BIND", "INGEST_HTTP_PORT",
                    "INGEST_RTMP_URL", "INGEST_HLS_BASE_URL", "INGEST_GRACE_SECONDS",
                    "INGEST_UPDATE_SECONDS", "INGEST_CALLBACK_SECRET")


@pytest.fixture(autouse=True)
def unset_ingest(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in INGEST_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_addresses_follow_the_ports_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_RTMP_PORT", "2935")
    monkeypatch.setenv("INGEST_HTTP_PORT", "9088")

    ingest = ingest_settings()

    assert ingest.rtmp_url == "rtmp://127.0.0.1:2935/live"
    assert ingest.hls_base_url == "http://127.0.0.1:9088/hls"
    assert not ingest.callback_secret and ingest.grace_seconds == 60.0


def test_the_callback_secret_never_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_CALLBACK_SECRET", "s3cret-value")

    ingest = ingest_settings()

    assert ingest.callback_secret.reveal() == "s3cret-value"
    assert "s3cret-value" not in repr(ingest)


@pytest.mark.parametrize(("name", "value"), [
    ("INGEST_RTMP_URL", "http://ingest.example/live"),
    ("INGEST_HLS_BASE_URL", "ftp://cdn.example/hls"),
    ("INGEST_RTMP_PORT", "70000"),
    ("INGEST_GRACE_SECONDS", "-1"),
])
def test_a_bad_value_stops_the_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                          name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=name):
        ingest_settings()
