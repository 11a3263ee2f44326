"""`livesell run` tells its worker where the web app it started listens (INTERNAL_BASE_URL)."""

from __future__ import annotations

from web.cli import internal_base_url


def test_the_internal_address_is_the_run_commands_own_port_on_a_reachable_host():
    assert internal_base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert internal_base_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert internal_base_url("::", 9000) == "http://[::1]:9000"
    assert internal_base_url("::1", 9000) == "http://[::1]:9000"
    assert internal_base_url("localhost", 8001) == "http://localhost:8001"
