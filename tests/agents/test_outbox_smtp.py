"""agents/outbox.py over real SMTP: a worker configured with ``CONTROLROOM_EMAIL_URL`` hands a
run's ``send_email`` to a mail server on loopback exactly once, and the outbox page says so
(the transport that took it) and links the message to the run and step that sent it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from agents import outbox
from agents.models import Effect, OutboxMessage
from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.engine import runs
from flows.models import Step
from tests.support import stack
from tests.support.flows import document, node, save, wait_terminal
from tests.support.smtp import SmtpSink
from tests.support.wait import wait_for

# committed rows: the worker under test reads them through its own connection
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def test_a_run_delivers_its_email_through_smtp_exactly_once_and_the_outbox_says_where(
    smtp: SmtpSink, celery_worker_factory: Callable[..., stack.ManagedProcess]
) -> None:
    celery_worker_factory(env_overrides={"CONTROLROOM_EMAIL_URL": smtp.url})
    mail: dict[str, Any] = {"to": "{{ input.to }}", "subject": "Hello", "body": "Hi there"}
    flow = save(document("smtp-mailer", [node("mail", "tool", tool="send_email", args=mail)], []))
    run, _ = runs.run_start(flow=flow, input={"to": "ada@example.com"})

    assert wait_terminal(run).status == "succeeded"
    message = wait_for(
        lambda: OutboxMessage.objects.filter(status="sent").first(),
        timeout=30,
        message="the outbox row marked sent",
    )
    assert smtp.per_recipient() == {"ada@example.com": 1}
    step = Step.objects.get(run=run, node_id="mail")
    assert (message.run_id, message.step_id) == (run.id, step.id)
    host_port = smtp.url.removeprefix("smtp://")
    assert message.transport == smtp.url
    assert message.delivered

    viewer = user_ensure(username=Role.VIEWER.value, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    page = client.get("/outbox/").content.decode()
    assert f"Handed to SMTP {host_port}" in page
    assert f'href="/runs/{run.id}/#step-{step.id}"' in page
    assert '<span class="status status-sent">Sent</span>' in page


def test_a_message_printed_to_the_console_is_shown_as_not_delivered(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    effect = Effect.objects.create(key="r:mail:", tool="send_email", category="outbound_message")
    message = outbox.outbox_enqueue(effect=effect, to="ada@example.com", subject="Hi", body="Yo")
    assert outbox.outbox_deliver(message_id=message.id) is True
    assert "ada@example.com" in capsys.readouterr().out
    message.refresh_from_db()
    assert (message.status, message.transport, message.delivered) == ("sent", "console", False)

    viewer = user_ensure(username=Role.VIEWER.value, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    page = client.get("/outbox/").content.decode()
    assert "Printed to the console (not delivered)" in page
    assert "E-mail is not delivered." in page  # the page's banner: the backend now
    assert '<span class="status status-sent">Not delivered</span>' in page
