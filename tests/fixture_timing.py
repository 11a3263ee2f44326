"""Where a test run's time goes: `PYTHONPATH=. .venv/bin/pytest -p tests.fixture_timing ...`.

At the end of the run it prints, per fixture, how often it was set up and the seconds spent
setting it up and tearing it down, and how many processes of each kind the run started
(Celery workers and beats, app servers, nginx, ffmpeg; browsers launched). Counts are what
to compare on a shared machine; the seconds move with its load. Off unless asked for.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from _pytest.fixtures import FixtureDef, SubRequest

_setup: dict[str, list[float]] = defaultdict(list)
_teardown: dict[str, list[float]] = defaultdict(list)
_spawned: Counter[str] = Counter()
_original_popen_init = subprocess.Popen.__init__
_original_finish = FixtureDef.finish


def _kind(argv: Any) -> str | None:
    words = [str(word) for word in argv] if isinstance(argv, list | tuple) else [str(argv)]
    line = " ".join(words)
    if "celery" in line:
        return "celery beat" if " beat" in line else "celery worker"
    if "web.cli serve" in line or "uvicorn" in line:
        return "app server"
    for name in ("nginx", "ffmpeg", "chromium"):
        if words and words[0].endswith(name):
            return name
    return None


def _popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    kind = _kind(args)
    if kind is not None:
        _spawned[kind] += 1
    _original_popen_init(self, args, *rest, **kwargs)


def _finish(self: FixtureDef[Any], request: SubRequest) -> None:
    started = time.monotonic()
    had_value = self.cached_result is not None
    try:
        _original_finish(self, request)
    finally:
        if had_value:
            _teardown[self.argname].append(time.monotonic() - started)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]
    FixtureDef.finish = _finish  # type: ignore[method-assign]
    try:
        from playwright.async_api import BrowserType
    except ImportError:
        return
    launch = BrowserType.launch

    async def counted_launch(self: Any, *args: Any, **kwargs: Any) -> Any:
        _spawned["browser launch"] += 1
        return await launch(self, *args, **kwargs)

    BrowserType.launch = counted_launch  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: FixtureDef[Any], request: SubRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    _setup[fixturedef.argname].append(time.monotonic() - started)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write = terminalreporter.write_line
    terminalreporter.section("fixture set-up and teardown")
    names = sorted(_setup, key=lambda n: -(sum(_setup[n]) + sum(_teardown.get(n, []))))
    write(f"{'fixture':32} {'count':>5} {'setup s':>8} {'teardown s':>10}")
    for name in names:
        total = sum(_setup[name]) + sum(_teardown.get(name, []))
        if total < 0.05:
            continue
        write(f"{name:32} {len(_setup[name]):5} {sum(_setup[name]):8.2f} "
              f"{sum(_teardown.get(name, [])):10.2f}")
    terminalreporter.section("processes started")
    for kind, count in sorted(_spawned.items()):
        write(f"{kind:32} {count:5}")
