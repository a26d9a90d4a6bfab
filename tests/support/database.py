"""Emptying the test database after a test whose rows were committed (`transaction=True`).

Django's flush truncates every table and then re-creates content types and permissions through
`post_migrate`: about half a second per test here, most of it on tables the test never touched.
`empty_tables` leaves the database in the same state — every model table empty except the rows
`post_migrate` would re-create — by deleting rows only from the tables that have any, in one
transaction with triggers off (`session_replication_role = replica`), which needs no table lock
and so never waits on, or deadlocks with, the shared worker and beat. Sequences are not reset,
as Django's flush does not reset them either.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TransactionTestCase

# Rows `post_migrate` would re-create after a flush; keeping them is the same end state.
KEPT_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def empty_tables(connection: BaseDatabaseWrapper) -> list[str]:
    """Delete every row of every model table but `KEPT_TABLES`; return the tables emptied.

    Precondition: the connection's role may set `session_replication_role` (a superuser, as
    the test databases' role is).
    """
    tables = sorted(
        set(connection.introspection.django_table_names(only_existing=True, include_views=False))
        - KEPT_TABLES
    )
    if not tables:
        return []
    quote = connection.ops.quote_name
    probe = " UNION ALL ".join(
        f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(table)})" for table in tables
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(probe, tables)
        filled = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in filled:
            cursor.execute(f"DELETE FROM {quote(table)}")
    return filled


_django_fixture_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown(self: Any) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        _django_fixture_teardown(self)
        return
    for db_name in self._databases_names(include_mirrors=False):
        empty_tables(connections[db_name])


def install() -> None:
    """Make every `TransactionTestCase` (pytest-django's `transaction=True`) end with
    `empty_tables` instead of Django's flush."""
    TransactionTestCase._fixture_teardown = _fixture_teardown  # type: ignore[method-assign]
