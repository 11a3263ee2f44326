"""Headless Debian Chromium for the tests that drive pages (tests/e2e, the analytics pages,
the video player)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from playwright.async_api import Browser, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
# An `expect(...)` waits as long as a page's own actions do (the contexts' default timeout),
# not Playwright's 5 s: with two test runs, their servers and two browsers on two cores, a
# reply drawn within 5 s on a quiet machine can take longer, and a wait is not what is tested.
expect.set_options(timeout=10_000)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.asynccontextmanager
async def launch_chromium(*extra_args: str) -> AsyncIterator[Browser]:
    """Chromium with the tests' arguments (and these), closed at the end."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*CHROMIUM_ARGS, *extra_args])
        yield browser
        await browser.close()
