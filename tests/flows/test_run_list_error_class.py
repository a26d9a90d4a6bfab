"""The runs list filtered by why a run failed (``error_class``): ``GET /api/runs`` and the runs
page, whose live list keeps to the same filter."""

from __future__ import annotations

import pytest
from django.test import Client

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.live import open_runs
from flows.models import Run
from tests.support.flows import document, node, save

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer() -> Client:
    client = Client()
    client.force_login(user_ensure(username="viewer-errors", role=Role.VIEWER))
    return client


@pytest.fixture
def ended() -> dict[str, Run]:
    """Four runs of one flow: failed as rejected, failed as domain, failed as rejected, and
    one still waiting (no class)."""
    flow = save(document("error-classes", [node("hold", "wait", seconds=3600)], []))
    made: dict[str, Run] = {}
    for name, error_class in (
        ("rejected", "rejected"),
        ("domain", "domain"),
        ("rejected-2", "rejected"),
        ("waiting", ""),
    ):
        run, _ = runs.run_start(flow=flow, input={})
        if error_class:
            Run.objects.filter(id=run.id).update(status="failed", error_class=error_class)
        made[name] = Run.objects.get(id=run.id)
    return made


def test_the_api_filters_runs_by_error_class(viewer: Client, ended: dict[str, Run]) -> None:
    response = viewer.get("/api/runs?error_class=rejected")
    assert response.status_code == 200, response.content
    ids = [item["id"] for item in response.json()["items"]]
    assert ids == [str(ended["rejected-2"].id), str(ended["rejected"].id)]
    assert all(item["error_class"] == "rejected" for item in response.json()["items"])
    both = viewer.get("/api/runs?error_class=domain&status=failed").json()["items"]
    assert [item["id"] for item in both] == [str(ended["domain"].id)]


def test_an_unknown_error_class_is_a_400_naming_the_known_ones(viewer: Client) -> None:
    response = viewer.get("/api/runs?error_class=exploded")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "unknown error_class 'exploded'" in message
    assert "rejected" in message and "domain" in message


def test_the_runs_page_filters_by_error_class(viewer: Client, ended: dict[str, Run]) -> None:
    page = viewer.get("/runs/?error_class=rejected").content.decode()
    assert page.count('id="run-row-') == 2
    assert f'id="run-row-{ended["rejected"].id}"' in page
    assert '<option value="rejected" selected>' in page
    assert "error_class=rejected" in page  # the live list subscribes with the same filter
    # An unknown class is ignored, as an unknown status is: every run is listed.
    assert viewer.get("/runs/?error_class=nope").content.decode().count('id="run-row-') == 4


def test_the_live_runs_list_keeps_to_the_error_class(ended: dict[str, Run]) -> None:
    listing = open_runs("", None, {"error_class": "rejected"})
    assert listing is not None
    assert [part.count('id="run-row-') for part in listing.sync()] == [2]
    # A run failing as rejected later joins the list; one failing otherwise does not.
    Run.objects.filter(id=ended["waiting"].id).update(status="failed", error_class="rejected")
    late, other = ended["waiting"].id, ended["domain"].id
    events = [{"type": "run.changed", "data": {"run_id": str(i)}} for i in (other, late)]
    parts = listing.render(events)
    assert len(parts) == 1 and f"run-row-{late}" in parts[0] and str(other) not in parts[0]
