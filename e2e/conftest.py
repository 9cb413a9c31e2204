"""Browser tests: Playwright for Python driving Debian's ``chromium``.

The tests start Nuvio themselves (pytest-django's ``live_server``, which also
serves the static files) and click through it as a person would. Every step
is saved as a screenshot under ``artifacts/e2e/``; when a test fails, the
page's HTML and a screenshot of where it stopped are saved there too.

No browser is ever downloaded (never ``playwright install``): the tests use
the system's Chromium (``/usr/bin/chromium``, Debian's ``chromium`` package;
``NUVIO_CHROMIUM`` may name another binary). Without it they skip with the
reason shown (``-ra``); in CI (``CI=true``) a missing browser fails instead,
so the journeys can never silently stop running there (``.ci/run`` installs
it through apt).

Every page is watched for JavaScript errors and for anything its
Content-Security-Policy blocked (a ``securitypolicyviolation`` event, or
Chromium's console message about one): either fails the test.
"""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

ARTIFACTS = Path(settings.BASE_DIR) / "artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A fake camera that needs no permission prompt, for the check-in scanner.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000

_REPORTS = pytest.StashKey[dict]()

# Runs in every document before its own scripts: whatever the policy blocks is
# reported to the test (through a Playwright binding, which CSP does not see).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__nuvioCspViolation([
    event.effectiveDirective, "blocked", event.blockedURI || "(inline)",
    "at", event.sourceFile + ":" + event.lineNumber, "on", event.documentURI,
  ].join(" "));
}, true);
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(
            f"browser tests cannot run in CI: {reason}. .ci/run installs Debian's chromium "
            "(apt-get install -y chromium) and requirements-dev.txt pins playwright.",
            pytrace=False,
        )
    pytest.skip(
        f"browser tests skipped: {reason} (apt-get install -y chromium, "
        "pip install -r requirements-dev.txt; CI runs them)"
    )


def chromium_path() -> str | None:
    """The Chromium to drive: ``NUVIO_CHROMIUM`` if set (and only it), else
    Debian's ``/usr/bin/chromium`` or a ``chromium`` on the PATH."""
    explicit = os.environ.get("NUVIO_CHROMIUM")
    candidates = [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test, so the page fixture knows at
    # teardown whether the test failed (and saves the page's HTML if so).
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*"):
        if old.suffix in {".png", ".html", ".json"}:
            old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (closed after it, so Playwright's event
    loop never outlives the browser tests)."""
    executable = chromium_path()
    if executable is None:
        where = os.environ.get("NUVIO_CHROMIUM") or "/usr/bin/chromium (or chromium on PATH)"
        _unavailable(f"no Chromium at {where}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an asyncio loop running on this thread
        # while it is open; the tests' own ORM calls (setting up data, the
        # database flush after each test) are still plain synchronous code.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # A fresh, throw-away profile directory per launch (Playwright's own).
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Browsing:
    """A browser context (its own cookies: one person) and its page, with the
    server's address and numbered screenshots."""

    def __init__(self, browser, base_url: str, artifacts: Path, prefix: str):
        self.context = browser.new_context(
            viewport=VIEWPORT, locale="en-GB", timezone_id="UTC", reduced_motion="reduce"
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.base_url = base_url
        self.artifacts = artifacts
        self.prefix = prefix
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.csp_violations: list[str] = []
        self.context.expose_binding(
            "__nuvioCspViolation", lambda _source, report: self.csp_violations.append(report)
        )
        self.context.add_init_script(CSP_LISTENER)
        # Chromium also says so on the console, which covers workers and frames.
        self.context.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"console: {message.text}")

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        status = response.status if response is not None else None
        assert status is not None and status < 400, f"GET {path}: {status}"
        return response

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def save_failure(self, test_name: str) -> None:
        stem = self.artifacts / f"{test_name}-{self.prefix}-FAILED"
        try:
            stem.with_suffix(".html").write_text(self.page.content(), encoding="utf-8")
            self.page.screenshot(path=str(stem.with_suffix(".png")), full_page=True)
        except Exception as exc:  # the page may be gone; the report still says why
            stem.with_suffix(".html").write_text(f"<!-- page not saved: {exc} -->")


def _test_name(node) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name.removeprefix("test_"))


@pytest.fixture
def browse(request, browser, live_server, artifacts_dir):
    """``browse(label)`` opens a new browser context (a person) on the live
    server; its screenshots are ``artifacts/e2e/<label>-<step>.png``, and if
    the test fails, ``<test>-<label>-FAILED.html`` and ``.png``."""
    opened: list[Browsing] = []

    def open_(label: str) -> Browsing:
        browsing = Browsing(browser, live_server.url, artifacts_dir, label)
        opened.append(browsing)
        return browsing

    yield open_

    call = request.node.stash.get(_REPORTS, {}).get("call")
    failed = call is not None and call.failed
    for browsing in opened:
        if failed:
            browsing.save_failure(_test_name(request.node))
            for report in browsing.csp_violations:  # often why the test failed
                print(f"Content-Security-Policy violation: {report}")
        browsing.context.close()
    if not failed:
        errors = [error for browsing in opened for error in browsing.errors]
        assert not errors, f"JavaScript errors in the pages: {errors}"
        blocked = [report for browsing in opened for report in browsing.csp_violations]
        assert not blocked, f"Content-Security-Policy violations in the pages: {blocked}"
