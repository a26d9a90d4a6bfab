"""`make assets` output, served by the real ASGI server, runs in the real Chromium."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support import stack


def test_chromium_runs_htmx_2_and_its_ws_extension_from_static_vendor(
    page: Page, asgi_server: stack.AsgiServer
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    static = f"{asgi_server.url}/static/vendor"
    # Same origin as the server, so the scripts load the way the app's pages load them.
    page.goto(f"{asgi_server.url}/static/vendor/htmx.min.js")
    page.set_content(
        f'<script src="{static}/htmx.min.js"></script>'
        f'<script src="{static}/htmx-ext-ws.min.js"></script>'
        '<div hx-ext="ws" id="probe"></div>'
    )
    assert failed == []
    assert errors == []
    assert page.evaluate("() => htmx.version").startswith("2.")
