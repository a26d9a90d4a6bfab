"""The demo workspace: five flows built from patterns users ask for, on scripted agents.

`make run` loads it at every start with ``if_changed``: the load is skipped while the files of
this package (documents, knowledge articles, this loader) match the digest the last load
recorded in the database, the admin password file was already there and the admin exists.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agents.knowledge import knowledge_document_add
from agents.models import Agent, KnowledgeBase
from controlroom.accounts import user_ensure
from controlroom.models import StartupStamp
from controlroom.roles import Role
from controlroom.startup import files_digest, startup_stamp_matches, startup_stamp_record
from flows.models import Flow
from flows.versions import flow_save, flow_version_publish

DEMO_DIR = Path(__file__).resolve().parent
STAMP = "demo"
#: Recorded by ``manage.py demo_remove``: `make run` then loads no demo flows (the admin is still
#: made); an explicit ``manage.py load_demo`` brings the demo back and clears it.
REMOVED_STAMP = "demo-removed"
ADMIN = "admin"


def demo_documents() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(DEMO_DIR.glob("*.json"))]


def demo_digest() -> str:
    """A digest of every file the demo loads from, and of the loader itself."""
    files = [
        path for path in DEMO_DIR.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    ]
    return files_digest(files, root=DEMO_DIR)


@dataclass
class DemoReport:
    username: str
    password: str
    flows_saved: list[str]
    skipped: bool = False


def _admin_password() -> tuple[str, bool]:
    """The admin password kept in the data directory, and whether it was made just now."""
    path = Path(settings.ENV.data_dir) / "admin_password"
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password)
    path.chmod(0o600)
    return password, True


def _agent_upsert(spec: dict[str, Any]) -> None:
    Agent.objects.update_or_create(
        slug=spec["slug"],
        defaults={
            "name": spec.get("name", spec["slug"]),
            "role": spec.get("role", ""),
            "instructions": spec.get("instructions", ""),
            "provider": spec.get("provider", "scripted"),
            "model": spec.get("model", "scripted-1"),
            "output_mode": spec.get("output", "text"),
            "output_schema": spec.get("output_schema"),
            "tools": spec.get("tools", []),
            "price_in_per_1k": Decimal(str(spec.get("price_in_per_1k", "0"))),
            "price_out_per_1k": Decimal(str(spec.get("price_out_per_1k", "0"))),
            "script": spec.get("script", {}),
        },
    )


def _knowledge_load() -> None:
    """The knowledge bases the demos answer from: ``knowledge/*.md`` is the support help centre
    (tier-one support); each folder under ``knowledge/`` is a base of its own, named after the
    folder (``knowledge/telecom/`` for the telecom customer-service demo)."""
    root = DEMO_DIR / "knowledge"
    support, _ = KnowledgeBase.objects.get_or_create(
        slug="support",
        defaults={"name": "Support help centre", "description": "Demo help-centre articles."},
    )
    bases = [(support, root, "demo")]
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        base, _ = KnowledgeBase.objects.get_or_create(
            slug=folder.name,
            defaults={
                "name": f"{folder.name.capitalize()} help centre",
                "description": f"Demo {folder.name} help-centre articles.",
            },
        )
        bases.append((base, folder, f"demo/{folder.name}"))
    for base, folder, prefix in bases:
        for path in sorted(folder.glob("*.md")):
            text = path.read_text()
            title = text.splitlines()[0].lstrip("# ").strip() if text else path.stem
            knowledge_document_add(
                base=base, title=title, body=text, source=f"{prefix}/{path.name}"
            )


def demo_load(*, password: str | None = None, if_changed: bool = False) -> DemoReport:
    """Create (or bring up to date) the admin user, demo agents and demo flows. Idempotent:
    a flow is saved as a new version only when its document changed.

    With ``if_changed``, nothing is written (``skipped`` in the report) when the last load
    recorded ``demo_digest()`` as it is now, no ``password`` is given, the password file
    already existed and the admin user exists: what a second `make run` finds."""
    digest = demo_digest()
    removed = startup_stamp_matches(name=REMOVED_STAMP, digest="removed")
    if if_changed and removed:
        password, _made = (password, False) if password else _admin_password()
        user_ensure(username=ADMIN, role=Role.ADMIN, password=password)
        return DemoReport(username=ADMIN, password=password, flows_saved=[], skipped=True)
    if password is None:
        password, made = _admin_password()
        if (
            if_changed
            and not made
            and startup_stamp_matches(name=STAMP, digest=digest)
            and get_user_model().objects.filter(username=ADMIN).exists()
        ):
            return DemoReport(username=ADMIN, password=password, flows_saved=[], skipped=True)
    admin = user_ensure(username=ADMIN, role=Role.ADMIN, password=password)
    saved: list[str] = []
    with transaction.atomic():
        _knowledge_load()
        for document in demo_documents():
            for spec in document.get("agents", []):
                _agent_upsert(spec)
            flow = Flow.objects.filter(slug=document["slug"]).first()
            latest = flow.versions.order_by("-number").first() if flow else None
            if latest is None or latest.document != document:
                flow, latest = flow_save(document=document, user=admin)
                saved.append(flow.slug)
            assert flow is not None and latest is not None
            if flow.live_version_id != latest.id:
                flow_version_publish(flow=flow, version=latest)
            if not flow.demo:
                Flow.objects.filter(id=flow.id).update(demo=True)
        startup_stamp_record(name=STAMP, digest=digest)
        StartupStamp.objects.filter(name=REMOVED_STAMP).delete()
    return DemoReport(username=ADMIN, password=password, flows_saved=saved)
