"""What the browser tests share: people, logging in, charts, axe-core."""

from pathlib import Path

from django.contrib.auth import get_user_model

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) and says why
    expect = None

PASSWORD = "Tabla-Monsoon-2031!"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# axe-core's impacts that fail the build; "moderate" and "minor" are reported.
BLOCKING_IMPACTS = {"serious", "critical"}


def make_user(email: str, name: str, **extra):
    return get_user_model().objects.create_user(email=email, password=PASSWORD, name=name, **extra)


def log_in(person, email: str, password: str = PASSWORD) -> None:
    """Log in through the login page, as a person would."""
    page = person.page
    person.goto("/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def chart_state(page, canvas_id: str) -> dict:
    """Whether a Chart.js chart lives on the canvas, its size, and how many
    of its (sampled) pixels are painted."""
    return page.evaluate(
        """id => {
            const canvas = document.getElementById(id);
            const chart = window.Chart && Chart.getChart(canvas);
            const pixels = canvas.getContext("2d")
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4 * 7) { if (pixels[i] > 0) painted++; }
            return {instance: Boolean(chart), width: canvas.width, height: canvas.height, painted};
        }""",
        canvas_id,
    )


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is; its violations, each with impact,
    rule id, help text and the offending elements."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated by the browser's debugger, not added as a <script>: the
        # page's Content-Security-Policy rightly refuses an inline script.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )
