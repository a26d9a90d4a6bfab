"""Knowledge bases: adding documents and searching them with PostgreSQL full-text search.

Documents carry a ``search`` tsvector that PostgreSQL generates itself (title weight A, body
weight B, ``english`` configuration); queries use the same configuration in ``websearch``
syntax (``"exact phrase"``, ``or``, ``-excluded``), ranked with ``ts_rank``. A question in
plain words ("how do I get a refund?") rarely has *all* its words in one document, so when
nothing matches all of them, documents matching any of them are ranked instead.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils.text import slugify

from agents.audit import audit_record
from agents.models import KnowledgeBase, KnowledgeDocument

CONFIG = "english"
MAX_LIMIT = 20
MAX_TITLE_CHARS = 300
LOADABLE_SUFFIXES = (".md", ".markdown", ".txt")
WORD = re.compile(r"\w+")
MAX_WORDS = 32


class KnowledgeError(ValueError):
    """A bad document or query, or an unknown knowledge base."""


class KnowledgeConflict(KnowledgeError):
    """A knowledge base with that slug exists already."""


@dataclass(frozen=True)
class Hit:
    document_id: int
    base: str
    title: str
    source: str
    excerpt: str
    rank: float


def knowledge_base_ensure(*, slug: str, name: str = "") -> KnowledgeBase:
    """The knowledge base ``slug``, created (named ``name`` or after the slug) if missing."""
    if not slug or slugify(slug) != slug:
        raise KnowledgeError(f"{slug!r} is not a valid knowledge base slug")
    base, _ = KnowledgeBase.objects.get_or_create(
        slug=slug, defaults={"name": name or slug.replace("-", " ").title()}
    )
    return base


def knowledge_base_create(*, slug: str, name: str) -> KnowledgeBase:
    """Create the knowledge base ``slug`` named ``name``, audited as ``knowledge_base.created``.
    Raises ``KnowledgeError`` for a bad slug or a blank name, ``KnowledgeConflict`` if the slug
    is taken (unlike ``knowledge_base_ensure``, which returns the existing base)."""
    if not slug or slugify(slug) != slug:
        raise KnowledgeError(f"{slug!r} is not a valid knowledge base slug")
    if not name.strip():
        raise KnowledgeError("a knowledge base needs a name")
    try:
        with transaction.atomic():
            base = KnowledgeBase.objects.create(slug=slug, name=name.strip())
            audit_record(
                kind="config", action="knowledge_base.created", subject=slug, data={"name": name}
            )
    except IntegrityError:
        raise KnowledgeConflict(f"a knowledge base {slug!r} exists already") from None
    return base


def knowledge_base_delete(*, base: KnowledgeBase) -> int:
    """Delete ``base`` and all its documents, audited as ``knowledge_base.deleted`` (with the
    number of documents). Agents searching it by slug get "no knowledge base" from then on.
    Returns how many documents went with it."""
    with transaction.atomic():
        documents = base.documents.count()
        audit_record(
            kind="config",
            action="knowledge_base.deleted",
            subject=base.slug,
            data={"name": base.name, "documents": documents},
        )
        base.delete()
    return documents


def knowledge_document_add(
    *, base: KnowledgeBase, title: str, body: str, source: str = ""
) -> KnowledgeDocument:
    """Add a document to ``base``; one with the same non-empty ``source`` is replaced instead,
    so loading the same files again updates them rather than duplicating them."""
    title = title.strip()[:MAX_TITLE_CHARS]
    if not title or not body.strip():
        raise KnowledgeError("a knowledge document needs a title and a body")
    if not source:
        return KnowledgeDocument.objects.create(base=base, title=title, body=body)
    with transaction.atomic():
        document = (
            KnowledgeDocument.objects.select_for_update().filter(base=base, source=source).first()
        )
        if document is None:
            return KnowledgeDocument.objects.create(
                base=base, title=title, body=body, source=source
            )
        document.title, document.body = title, body
        document.save(update_fields=["title", "body", "updated_at"])
        # The generated ``search`` column changed in the database, not on this instance.
        document.refresh_from_db(fields=["search"])
        return document


def knowledge_file_load(*, base: KnowledgeBase, path: Path) -> KnowledgeDocument:
    """Add a .md/.txt file: its first Markdown heading (or its name) is the title, its path
    the source."""
    if path.suffix.lower() not in LOADABLE_SUFFIXES:
        raise KnowledgeError(f"{path.name}: only {', '.join(LOADABLE_SUFFIXES)} files load")
    body = path.read_text(encoding="utf-8")
    return knowledge_document_add(
        base=base, title=_title(body) or path.stem.replace("-", " "), body=body, source=str(path)
    )


def _title(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            return ""
    return ""


def knowledge_search(*, query: str, base: str | None = None, limit: int = 5) -> list[Hit]:
    """The documents matching ``query`` best first (ties by id), at most ``limit`` (≤ 20).

    ``base`` restricts the search to one knowledge base by slug (``KnowledgeError`` if there is
    no such base). Excerpts are headlines with matches marked ``**like this**``.
    """
    if not query.strip():
        raise KnowledgeError("the search query is empty")
    documents = KnowledgeDocument.objects.all()
    if base:
        if not KnowledgeBase.objects.filter(slug=base).exists():
            raise KnowledgeError(f"there is no knowledge base {base!r}")
        documents = documents.filter(base__slug=base)
    hits = _ranked(documents, SearchQuery(query, config=CONFIG, search_type="websearch"), limit)
    words = WORD.findall(query)[:MAX_WORDS]
    if hits or len(words) < 2:
        return hits
    any_word = reduce(operator.or_, (SearchQuery(word, config=CONFIG) for word in words))
    return _ranked(documents, any_word, limit)


def _ranked(documents: QuerySet[KnowledgeDocument], search: SearchQuery, limit: int) -> list[Hit]:
    rows = (
        documents.filter(search=search)
        .annotate(
            rank=SearchRank(F("search"), search),
            excerpt=SearchHeadline(
                "body",
                search,
                config=CONFIG,
                start_sel="**",
                stop_sel="**",
                max_words=40,
                min_words=15,
                max_fragments=2,
            ),
        )
        .select_related("base")
        .order_by("-rank", "id")[: max(1, min(limit, MAX_LIMIT))]
    )
    return [
        Hit(
            document_id=row.id,
            base=row.base.slug,
            title=row.title,
            source=row.source,
            excerpt=row.excerpt,
            rank=round(float(row.rank), 6),
        )
        for row in rows
    ]
