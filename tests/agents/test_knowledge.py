"""Knowledge bases: PostgreSQL full-text search ranks the right document first; documents load
from files, once per source; the ``knowledge_search`` tool reads it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents import tools
from agents.knowledge import (
    KnowledgeError,
    knowledge_base_ensure,
    knowledge_document_add,
    knowledge_search,
)
from agents.models import KnowledgeBase, KnowledgeDocument
from agents.tools import ToolError

pytestmark = pytest.mark.django_db

DOCUMENTS = {
    "Refund policy": (
        "Customers can ask for a refund within 30 days of purchase. Refunds go back to the "
        "original payment method within five business days."
    ),
    "Shipping times": (
        "Orders ship within two days. Delivery takes three to five days; express delivery "
        "arrives the next day. A late delivery can be refunded as shipping credit."
    ),
    "Resetting your password": (
        "Open the sign-in page and choose 'Forgot password'. We e-mail a reset link that "
        "works for one hour."
    ),
}


@pytest.fixture
def support() -> KnowledgeBase:
    base = knowledge_base_ensure(slug="support", name="Support")
    for title, body in DOCUMENTS.items():
        knowledge_document_add(base=base, title=title, body=body, source=f"{title}.md")
    return base


@pytest.fixture
def sales() -> KnowledgeBase:
    base = knowledge_base_ensure(slug="sales")
    knowledge_document_add(base=base, title="Refunds for enterprise", body="Refund terms vary.")
    return base


def titles(query: str, **kwargs: object) -> list[str]:
    return [hit.title for hit in knowledge_search(query=query, **kwargs)]  # type: ignore[arg-type]


def test_the_most_relevant_document_ranks_first(support: KnowledgeBase) -> None:
    assert titles("refund")[0] == "Refund policy"
    assert titles("when will my delivery arrive")[0] == "Shipping times"
    assert titles("forgot my password") == ["Resetting your password"]


def test_a_question_in_plain_words_finds_documents_with_any_of_them(
    support: KnowledgeBase,
) -> None:
    # No document has both "get" and "refund": all-words matches nothing, any-word does.
    assert titles("how do I get a refund?") == ["Refund policy", "Shipping times"]


def test_ranks_are_descending_and_excerpts_mark_the_matches(support: KnowledgeBase) -> None:
    hits = knowledge_search(query="refund")
    assert [hit.title for hit in hits] == ["Refund policy", "Shipping times"]
    assert hits[0].rank > hits[1].rank > 0
    assert "**refund**" in hits[0].excerpt.lower()
    assert (hits[0].base, hits[0].source) == ("support", "Refund policy.md")


def test_websearch_syntax_phrases_and_exclusions(support: KnowledgeBase) -> None:
    assert titles('"reset link"') == ["Resetting your password"]
    assert titles("refund -shipping") == ["Refund policy"]
    assert set(titles("password or express")) == {"Resetting your password", "Shipping times"}


def test_a_search_can_be_limited_to_one_base(support: KnowledgeBase, sales: KnowledgeBase) -> None:
    assert "Refunds for enterprise" in titles("refund")
    assert "Refunds for enterprise" not in titles("refund", base="support")
    assert titles("refund", base="sales") == ["Refunds for enterprise"]
    assert titles("refund", limit=1) == [titles("refund")[0]]


def test_nothing_matching_is_an_empty_list_and_bad_queries_are_errors(
    support: KnowledgeBase,
) -> None:
    assert knowledge_search(query="quantum chromodynamics") == []
    with pytest.raises(KnowledgeError, match="empty"):
        knowledge_search(query="  ")
    with pytest.raises(KnowledgeError, match="no knowledge base 'nope'"):
        knowledge_search(query="refund", base="nope")


def test_adding_the_same_source_again_replaces_the_document(support: KnowledgeBase) -> None:
    knowledge_document_add(
        base=support,
        title="Refund policy",
        body="Refunds are possible within 60 days, no questions asked.",
        source="Refund policy.md",
    )
    assert support.documents.filter(title="Refund policy").count() == 1
    assert "60 days" in knowledge_search(query="refund questions")[0].excerpt


def test_the_tool_is_a_read_returning_ranked_hits(support: KnowledgeBase) -> None:
    assert tools.tool_get("knowledge_search").category == "read"
    result = tools.tool_call(
        name="knowledge_search",
        args={"query": "refund", "base": "support", "limit": 5},
        idempotency_key="run:kb:",
        subject="",
    )
    assert result["count"] == 2
    first = result["results"][0]
    assert first["title"] == "Refund policy"
    assert set(first) == {"document_id", "base", "title", "source", "excerpt", "rank"}
    with pytest.raises(ToolError, match="no knowledge base"):
        tools.tool_call(
            name="knowledge_search",
            args={"query": "refund", "base": "nope"},
            idempotency_key="run:kb:",
            subject="",
        )


def test_load_knowledge_adds_markdown_and_text_files(tmp_path: Path) -> None:
    (tmp_path / "returns.md").write_text("# Returning an item\n\nPrint the return label.\n")
    (tmp_path / "hours.txt").write_text("Support answers weekdays from 9 to 5.\n")
    out = StringIO()
    call_command("load_knowledge", "help-center", *sorted(tmp_path.iterdir()), stdout=out)
    base = KnowledgeBase.objects.get(slug="help-center")
    assert sorted(base.documents.values_list("title", flat=True)) == [
        "Returning an item",
        "hours",
    ]
    assert titles("return label", base="help-center") == ["Returning an item"]
    call_command("load_knowledge", "help-center", tmp_path / "returns.md", stdout=out)
    assert KnowledgeDocument.objects.filter(base=base).count() == 2


def test_load_knowledge_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.7")
    with pytest.raises(CommandError, match=r"only \.md"):
        call_command("load_knowledge", "help-center", tmp_path / "slides.pdf")
    with pytest.raises(CommandError, match="no such file"):
        call_command("load_knowledge", "help-center", tmp_path / "missing.md")
