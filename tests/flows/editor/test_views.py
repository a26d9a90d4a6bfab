"""The editor page and the templates gallery: who may open them and what the island is given."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.editor import gallery
from flows.models import Flow
from flows.versions import flow_save

pytestmark = pytest.mark.django_db

DOCUMENT: dict[str, Any] = {
    "schema": "controlroom.flow/v1",
    "slug": "edited",
    "name": "Edited",
    "nodes": [{"id": "done", "type": "end", "position": {"x": 10, "y": 20}}],
    "edges": [],
}


@pytest.fixture
def cast() -> dict[str, Any]:
    """One user per role, plus an outsider with no role."""
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


@pytest.fixture
def flow() -> Flow:
    flow, _ = flow_save(document=json.loads(json.dumps(DOCUMENT)))
    return flow


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def boot(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="editor-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page embeds the editor's data with json_script"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_a_designer_gets_the_latest_version_to_edit(cast: dict[str, Any], flow: Flow) -> None:
    response = client_for(cast["designer"]).get(f"/flows/{flow.slug}/edit/")
    assert response.status_code == 200
    data = boot(response)
    assert data["can_edit"] is True and data["version"] == 1 and data["live_version"] is None
    assert data["document"]["nodes"][0]["position"] == {"x": 10, "y": 20}
    assert "<script>" not in response.content.decode()  # no inline scripts besides the data


def test_a_viewer_gets_the_canvas_read_only(cast: dict[str, Any], flow: Flow) -> None:
    response = client_for(cast["viewer"]).get(f"/flows/{flow.slug}/edit/")
    assert response.status_code == 200
    assert boot(response)["can_edit"] is False


def test_an_outsider_may_not_open_the_editor(cast: dict[str, Any], flow: Flow) -> None:
    assert client_for(cast["outsider"]).get(f"/flows/{flow.slug}/edit/").status_code == 403


def test_an_unknown_flow_is_a_404(cast: dict[str, Any]) -> None:
    assert client_for(cast["admin"]).get("/flows/nope/edit/").status_code == 404


def test_only_designers_open_the_templates_gallery(cast: dict[str, Any]) -> None:
    assert client_for(cast["approver"]).get("/flows/new/").status_code == 403
    response = client_for(cast["designer"]).get("/flows/new/")
    assert response.status_code == 200
    assert b"Lead to meeting" in response.content and b"Blank canvas" in response.content


def test_every_template_card_has_its_own_one_click_button(cast: dict[str, Any]) -> None:
    page = client_for(cast["designer"]).get("/flows/new/").content.decode()
    cards = re.findall(r'<article class="gallery-card[^"]*"[^>]*data-template="([^"]+)"', page)
    assert sorted(cards) == sorted([*gallery.templates(), "blank"])
    assert page.count(">Use this template</button>") == len(gallery.templates())
    for slug in gallery.templates():
        assert f'<input type="hidden" name="template" value="{slug}">' in page


def test_a_card_says_what_the_template_does(cast: dict[str, Any]) -> None:
    page = client_for(cast["designer"]).get("/flows/new/").content.decode()
    churn = page[page.index('data-template="churn-risk-save"') :]
    churn = churn[: churn.index("</article>")]
    assert "Score an account" in churn  # the description
    assert "Manual trigger" in churn and "2 agents, 7 steps" in churn
    assert "Human approval" in churn and "Outcome: <strong>account retained</strong>" in churn
    dunning = gallery.template_card(gallery.templates()["dunning-sequence"])
    assert (dunning.human, dunning.outcome) == ("escalation", "invoice paid")


def test_one_click_opens_an_unsaved_copy_named_after_the_template(cast: dict[str, Any]) -> None:
    response = client_for(cast["designer"]).get("/flows/new/", {"template": "churn-risk-save"})
    data = boot(response)
    assert data["is_new"] is True and data["version"] is None
    assert (data["slug"], data["name"]) == ("churn-risk-save", "Churn risk save")
    document = data["document"]
    assert (document["slug"], document["name"]) == ("churn-risk-save", "Churn risk save")
    assert document["nodes"] == gallery.templates()["churn-risk-save"]["nodes"]
    assert not Flow.objects.filter(slug="churn-risk-save").exists()


def test_one_click_numbers_the_slug_when_the_template_slug_is_taken(
    cast: dict[str, Any],
) -> None:
    for slug in ("content-pipeline", "content-pipeline-2"):
        Flow.objects.create(slug=slug, name=slug)
    data = boot(client_for(cast["designer"]).get("/flows/new/", {"template": "content-pipeline"}))
    assert data["document"]["slug"] == "content-pipeline-3"
    assert data["document"]["name"] == "Content department"


def test_blank_starts_untitled(cast: dict[str, Any]) -> None:
    data = boot(client_for(cast["designer"]).get("/flows/new/", {"template": "blank"}))
    assert (data["document"]["slug"], data["document"]["name"]) == (
        "untitled-flow",
        "Untitled flow",
    )
    assert data["document"]["nodes"] == []


def test_a_template_opens_unsaved_under_the_chosen_slug_and_name(cast: dict[str, Any]) -> None:
    response = client_for(cast["designer"]).get(
        "/flows/new/", {"template": "lead-to-meeting", "name": "Leads EU", "slug": "leads-eu"}
    )
    data = boot(response)
    assert data["is_new"] is True and data["version"] is None
    assert data["document"]["slug"] == "leads-eu" and data["document"]["name"] == "Leads EU"
    assert data["document"]["nodes"]
    assert not Flow.objects.filter(slug="leads-eu").exists()


def test_a_chosen_name_without_a_slug_gives_the_slug(cast: dict[str, Any]) -> None:
    Flow.objects.create(slug="dunning-eu", name="Dunning EU")
    data = boot(
        client_for(cast["designer"]).get(
            "/flows/new/", {"template": "dunning-sequence", "name": "Dunning EU", "slug": ""}
        )
    )
    assert (data["document"]["slug"], data["document"]["name"]) == ("dunning-eu-2", "Dunning EU")


def test_the_gallery_refuses_a_taken_or_malformed_slug(cast: dict[str, Any], flow: Flow) -> None:
    client = client_for(cast["designer"])
    taken = client.get("/flows/new/", {"template": "blank", "name": "X", "slug": flow.slug})
    assert taken.status_code == 409 and b"exists already" in taken.content
    bad = client.get("/flows/new/", {"template": "blank", "name": "X", "slug": "Not A Slug"})
    assert bad.status_code == 400 and b"lower-case letters" in bad.content
    unknown = client.get("/flows/new/", {"template": "no-such-template"})
    assert unknown.status_code == 400
    assert b"There is no template &#x27;no-such-template&#x27;" in unknown.content


def test_a_unique_slug_keeps_to_eighty_characters() -> None:
    base = "a" * 80
    assert gallery.slug_unique(base=base) == base
    Flow.objects.create(slug=base, name="long")
    numbered = gallery.slug_unique(base=base)
    assert numbered == "a" * 78 + "-2" and len(numbered) == 80
    Flow.objects.create(slug=numbered, name="long 2")
    assert gallery.slug_unique(base=base) == "a" * 78 + "-3"
