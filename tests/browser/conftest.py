"""A real stack (redis-server, celery workers, the API over HTTP) and a real Chromium driven by
Playwright, for the dashboard's tests.

Chromium comes from the system's packages (``apt-get install chromium``; ``.ci/run`` installs
it). Where none is installed the tests are skipped, except when ``TUNEQ_BROWSER_REQUIRED`` is
set, as CI sets it: there a missing browser is a failure, never a silent pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.helpers import LiveApi, Workers


def chromium_path() -> str | None:
    for candidate in (os.environ.get("TUNEQ_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("TUNEQ_BROWSER_REQUIRED"):
            pytest.fail("TUNEQ_BROWSER_REQUIRED is set and no Chromium is installed")
        pytest.skip("no Chromium installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        try:
            yield launched
        finally:
            launched.close()


class Stack:
    """The API on a real port with two tenants' keys, and trial workers behind it."""

    def __init__(self, api: LiveApi) -> None:
        self.api, self.url, self.key = api, api.url, api.key
        _, self.rival_key = api.app.extensions["tuneq.store"].api_keys.create("rival")

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        """A JSON call of the API as another client would make it."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {key or self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None


def _stack(settings: Settings, workers: Workers) -> Iterator[Stack]:
    workers.start("dash", concurrency=2)
    api = LiveApi(settings).start()
    try:
        yield Stack(api)
    finally:
        api.stop()


@pytest.fixture
def stack(fast_settings: Settings, workers: Workers) -> Iterator[Stack]:
    yield from _stack(fast_settings, workers)


@pytest.fixture
def one_stream_stack(fast_settings: Settings, workers: Workers) -> Iterator[Stack]:
    """A stack whose keys may each hold one event stream: a second open job page is refused
    one and must long-poll instead."""
    yield from _stack(dataclasses.replace(fast_settings, max_streams_per_key=1), workers)


@pytest.fixture
def open_stack(fast_settings: Settings, workers: Workers) -> Iterator[Stack]:
    """A stack without authentication, as ``tuneq dev`` runs it."""
    yield from _stack(dataclasses.replace(fast_settings, auth_disabled=True), workers)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab (its own session storage) that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(20_000)
    yield tab
    context.close()
    assert not errors, errors


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``TUNEQ_SCREENSHOTS`` (the README's are made so), else the test's
    temporary folder."""
    return Path(os.environ.get("TUNEQ_SCREENSHOTS") or tmp_path)
