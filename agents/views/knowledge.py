"""Knowledge bases: list and create, upload .md/.txt documents, and a search preview that
shows what the ``knowledge_search`` tool would return."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import forms, knowledge, selectors
from agents.models import KnowledgeBase
from agents.views.common import is_fragment_request, require, section
from controlroom.roles import Capability, can

DOCUMENTS_SHOWN = 500
SEARCH_LIMIT = 5  # what the knowledge_search tool returns unless told otherwise


def _base_or_404(slug: str) -> KnowledgeBase:
    base = selectors.knowledge_base_get(slug=slug)
    if base is None:
        raise Http404(f"no knowledge base {slug!r}")
    return base


def _knowledge_list_page(
    request: HttpRequest, form: forms.KnowledgeBaseForm, status: int = 200
) -> HttpResponse:
    context = section(
        "knowledge",
        bases=list(selectors.knowledge_base_list()),
        form=form,
        can_design=can(request.user, Capability.DESIGN),
    )
    return render(request, "agents/knowledge_list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def knowledge_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    if request.method != "POST":
        return _knowledge_list_page(request, forms.KnowledgeBaseForm())
    require(request, Capability.DESIGN)
    form = forms.KnowledgeBaseForm(request.POST)
    if not form.is_valid():
        return _knowledge_list_page(request, form, status=422)
    try:
        base = knowledge.knowledge_base_ensure(
            slug=form.cleaned_data["slug"], name=form.cleaned_data["name"]
        )
    except knowledge.KnowledgeError as exc:
        form.add_error("slug", str(exc))
        return _knowledge_list_page(request, form, status=422)
    messages.success(request, f"Knowledge base {base.name} created. Upload documents to it.")
    return redirect("knowledge_detail", slug=base.slug)


def _marked(excerpt: str) -> list[tuple[str, bool]]:
    """A search headline (matches between ``**``) as (text, is_match) runs, for <mark>."""
    return [(text, index % 2 == 1) for index, text in enumerate(excerpt.split("**")) if text]


def _search_context(base: KnowledgeBase, query: str) -> dict[str, Any]:
    context: dict[str, Any] = {"base": base, "query": query, "hits": [], "search_error": ""}
    if not query.strip():
        return context
    try:
        hits = knowledge.knowledge_search(query=query, base=base.slug, limit=SEARCH_LIMIT)
    except knowledge.KnowledgeError as exc:
        context["search_error"] = str(exc)
        return context
    context["hits"] = [{"hit": hit, "runs": _marked(hit.excerpt)} for hit in hits]
    tool_result = {"results": [hit.__dict__ for hit in hits], "count": len(hits)}
    context["tool_result"] = json.dumps(tool_result, indent=2, ensure_ascii=False)
    context["tool_args"] = json.dumps({"query": query, "base": base.slug}, ensure_ascii=False)
    return context


def _knowledge_page(
    request: HttpRequest,
    base: KnowledgeBase,
    *,
    upload: forms.KnowledgeUploadForm | None = None,
    status: int = 200,
) -> HttpResponse:
    query = request.GET.get("q", "")[:500]
    documents = selectors.knowledge_document_list(base=base)
    context = section(
        "knowledge",
        documents=list(documents[:DOCUMENTS_SHOWN]),
        document_count=documents.count(),
        upload=upload or forms.KnowledgeUploadForm(),
        can_design=can(request.user, Capability.DESIGN),
        **_search_context(base, query),
    )
    return render(request, "agents/knowledge_detail.html", context, status=status)


@login_required
@require_GET
def knowledge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.VIEW)
    base = _base_or_404(slug)
    if is_fragment_request(request):
        context = _search_context(base, request.GET.get("q", "")[:500])
        return render(request, "agents/knowledge_detail.html#search_results", context)
    return _knowledge_page(request, base)


@login_required
@require_POST
def knowledge_upload(request: HttpRequest, slug: str) -> HttpResponse:
    require(request, Capability.DESIGN)
    base = _base_or_404(slug)
    form = forms.KnowledgeUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _knowledge_page(request, base, upload=form, status=422)
    added = []
    for text in form.cleaned_data["documents"]:
        try:
            knowledge.knowledge_document_add(
                base=base, title=text.title, body=text.body, source=f"upload:{text.name}"
            )
        except knowledge.KnowledgeError as exc:
            form.add_error("documents", f"{text.name}: {exc}")
        else:
            added.append(text.name)
    if form.errors:
        return _knowledge_page(request, base, upload=form, status=422)
    messages.success(request, f"Added {len(added)} document(s): {', '.join(added)}.")
    return redirect("knowledge_detail", slug=base.slug)
