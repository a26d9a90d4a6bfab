"""What `make run` does to the database before its processes start, done only when needed.

A second start on an unchanged checkout should cost one short process, not a migration run and
a demo reload: migrations are applied only when Django's plan has any (the plan is computed
from the migration files and the ``django_migrations`` table, so a database migrated by hand
or restored from a backup is judged as it is), and a step that loads files (the demo) records
a digest of what it loaded in ``StartupStamp`` and is skipped while the files still match it.
Stamps live in the database, not in the data directory, so a fresh database behind an old
``.data/`` is still loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from controlroom.models import StartupStamp


def migrations_pending(*, database: str = DEFAULT_DB_ALIAS) -> bool:
    """True when ``migrate`` would apply (or unapply) anything on ``database``."""
    executor = MigrationExecutor(connections[database])
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def files_digest(paths: Iterable[Path], *, root: Path) -> str:
    """SHA-256 over the files' paths (relative to ``root``) and contents, in path order: any
    added, removed, renamed or edited file changes it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def startup_stamp_matches(*, name: str, digest: str) -> bool:
    """True when step ``name`` last recorded exactly ``digest``."""
    return StartupStamp.objects.filter(name=name, digest=digest).exists()


def startup_stamp_record(*, name: str, digest: str) -> None:
    """Record that step ``name`` applied ``digest``; call it in the transaction that did."""
    StartupStamp.objects.update_or_create(name=name, defaults={"digest": digest})
