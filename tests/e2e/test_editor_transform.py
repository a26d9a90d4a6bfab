"""The ``transform`` node in the editor, in a real Chromium against the real stack: the palette
lists it (from ``GET /api/node-types``), its config form comes from its schema, and the
validator's problem with its JMESPath query shows by the field until the query is fixed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from controlroom.roles import Role
from tests.e2e.test_editor import canvas_node, drag_from_palette, expect_validated, log_in
from tests.support.stack import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_designer_adds_a_transform_and_the_validator_checks_its_query(
    page: Page, asgi_server: AsgiServer
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, asgi_server.url, "dee", Role.DESIGNER)
    page.goto(f"{asgi_server.url}/flows/new/?template=blank&name=Reshape&slug=reshape")
    item = page.locator('.palette-item[data-node-type="transform"]')
    expect(item).to_have_text("Transform")
    expect(item).to_have_attribute(
        "title", "Reshape data with a JMESPath query: pick, filter, sort or rename fields."
    )

    drag_from_palette(page, "transform", 300, 200)
    expect(canvas_node(page, "transform_1")).to_be_visible()
    canvas_node(page, "transform_1").click()
    query = page.get_by_label("JMESPath query", exact=True)
    expect(query).to_be_visible()
    problem = page.locator('.node-panel [data-problem-for="expression"]')

    query.fill("orders[?status == 'open'")
    expect_validated(page)
    expect(problem).to_have_text(
        "not a valid JMESPath query at column 25: the query ends before it is complete"
    )
    query.fill("count(orders)")
    expect(problem).to_contain_text("unknown JMESPath function count()")
    query.fill("orders[?status == 'open'].id")
    expect(problem).to_have_count(0)
