"""Knowledge forms: a new base, and a multi-file upload of UTF-8 .md/.txt documents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from agents import selectors
from agents.forms.common import SLUG_RE

MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_FILES = 20
UPLOAD_SUFFIXES = (".md", ".markdown", ".txt")


class KnowledgeBaseForm(forms.Form):
    slug = forms.SlugField(max_length=80, label="Slug", help_text="Agents search a base by it.")
    name = forms.CharField(max_length=200, label="Name")

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        if not re.match(SLUG_RE, slug):
            raise forms.ValidationError("Use lower-case letters, digits and '-'.")
        if selectors.knowledge_base_get(slug=slug) is not None:
            raise forms.ValidationError(f"A knowledge base {slug!r} exists already.")
        return slug


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.Field):
    """Every file chosen in one ``<input type=file multiple>``, as a list."""

    widget = MultipleFileInput

    def to_python(self, data: Any) -> list[UploadedFile[bytes]]:
        if not data:
            return []
        return list(data) if isinstance(data, list | tuple) else [data]

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError("Choose at least one file.", code="required")


@dataclass(frozen=True)
class UploadedText:
    name: str
    title: str
    body: str


class KnowledgeUploadForm(forms.Form):
    documents = MultipleFileField(
        label="Files",
        help_text=f"Markdown or plain text (.md, .txt), UTF-8, up to {MAX_UPLOAD_BYTES // 1000} kB "
        f"each, {MAX_UPLOAD_FILES} at a time. A file uploaded again replaces its document.",
        widget=MultipleFileInput(attrs={"accept": ".md,.markdown,.txt,text/markdown,text/plain"}),
    )

    def clean_documents(self) -> list[UploadedText]:
        uploads: list[UploadedFile[bytes]] = self.cleaned_data["documents"]
        if len(uploads) > MAX_UPLOAD_FILES:
            raise forms.ValidationError(f"At most {MAX_UPLOAD_FILES} files at a time.")
        texts, errors = [], []
        for upload in uploads:
            try:
                texts.append(_text_of(upload))
            except forms.ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise forms.ValidationError(errors)
        return texts


def _text_of(upload: UploadedFile[bytes]) -> UploadedText:
    name = (upload.name or "upload").rsplit("/", 1)[-1]
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise forms.ValidationError(f"{name}: only .md and .txt files can be uploaded.")
    if (upload.size or 0) > MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            f"{name}: {upload.size:,} bytes is over the {MAX_UPLOAD_BYTES:,}-byte limit."
        )
    raw = upload.read(MAX_UPLOAD_BYTES + 1)
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise forms.ValidationError(
            f"{name} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
            f"{exc.start}). Save it as UTF-8 and upload it again."
        ) from None
    if "\x00" in body:
        raise forms.ValidationError(f"{name} contains NUL characters; it is not a text file.")
    if not body.strip():
        raise forms.ValidationError(f"{name} is empty.")
    title = _heading(body) or name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    return UploadedText(name=name, title=title, body=body)


def _heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            return ""
    return ""
