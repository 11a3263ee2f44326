"""A bounded schemathesis pass over /openapi.json: no 5xx, and every error is a JSON error body.

Runs against the app in its own uvicorn process (the `live_server`), authenticated as a host
and as a viewer, with schema-valid and schema-violating data. Bounded (a few examples per
operation, derandomized) so that it fits in `make test`; the unbounded run that prompted it
found 793 server errors.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import LiveServer, MakeUser

pytestmark = pytest.mark.slow

# Six examples per operation, mode and role (with the explicit ones) keep the pass to about
# half a minute on two cores while still reaching the edges the schema allows (huge ids, nulls,
# NUL bytes, far dates): measured against twelve, it sent half the requests and met 96% of the
# same (operation, mode, status) outcomes. FUZZ_EXAMPLES=200 gives a deeper run by hand.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "6"))

# Logging out revokes the token the rest of the pass runs with; it is covered elsewhere.
SKIPPED = {("POST", "/api/auth/logout")}


def error_body_problem(response: Any) -> str | None:
    """What is wrong with a 4xx/5xx body, or None when it is the JSON error format."""
    # schemathesis keeps every value of a header: a list per lower-cased name.
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        return "not JSON"
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "no error object"
    if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return "error without a code and a message"
    return None


@functools.cache
def cases(base_url: str) -> list[Any]:
    """The pass's cases, every operation's in turn, drawn once for the run: derandomized,
    the draws are the same for each role (they never depend on the answers), and drawing them
    is most of the pass's time, so each role sends the same list."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    drawn: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
                      deadline=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            def draw(case: Any) -> None:
                drawn.append(case)

            # Unsatisfiable: nothing in this operation can be made invalid (no parameters).
            with contextlib.suppress(Unsatisfiable):
                draw()
    return drawn


def fuzz(base_url: str, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    for case in cases(base_url):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        problem = None
        if response.status_code >= 500:
            problem = "server error"
        elif response.status_code >= 400:
            problem = error_body_problem(response)
        if problem:
            failures.append(
                f"{problem}: {case.method} {case.formatted_path} "
                f"query={case.query} body={case.body!r:.200} -> "
                f"{response.status_code} {response.text[:200]!r}")
    return failures


@pytest.mark.parametrize("role", ["host", "viewer"])
async def test_api_never_answers_5xx_and_every_error_is_json(role: str, make_user: MakeUser,
                                                             live_server: LiveServer) -> None:
    import asyncio

    user = await make_user(role)
    failures = await asyncio.to_thread(fuzz, live_server.url, user.headers)
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
