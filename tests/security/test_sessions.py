"""Issue 14, finding 9: open websockets end when their session ends, every subscription checks
the session again, and the handshake's origin must match in scheme, host and port.

Real sockets against the session's shared uvicorn (``controlroom.asgi:application`` with the
Redis channel layer): logouts go through real HTTP, deactivations through the Django admin's
user form, and the close arrives through the event bus like any live update.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from controlroom.accounts import user_ensure, user_role_set
from controlroom.roles import Role
from tests.support.stack import AsgiServer

# committed rows: the web server reads the sessions and users on its own connection
pytestmark = pytest.mark.django_db(transaction=True)

CLOSE_WITHIN = 10.0  # seconds: an event through Redis, a session read, a close frame


@pytest.fixture
def cast() -> dict[str, Any]:
    users = {role.value: user_ensure(username=role.value, role=role) for role in Role}
    users["outsider"] = get_user_model().objects.create_user(username="outsider")
    return users


def session_cookie(user: Any) -> str:
    """A signed-in session of ``user`` (stored in the database the server reads)."""
    browser = Client()
    browser.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def open_socket(asgi_server: AsgiServer) -> Iterator[Any]:
    """``open_socket(cookie, subscribe="runs")``: a JSON-mode websocket of that session, its
    ``subscribed`` frame read; closed at teardown."""
    sockets = contextlib.ExitStack()

    def opener(cookie: str, subscribe: str = "runs") -> ClientConnection:
        socket = sockets.enter_context(
            connect(
                f"{asgi_server.ws_url}/ws/?format=json&subscribe={subscribe}",
                origin=Origin(asgi_server.url),
                additional_headers={"Cookie": cookie},
                proxy=None,
                open_timeout=10,
            )
        )
        frame = json.loads(socket.recv(timeout=10))
        assert frame == {"type": "subscribed", "groups": subscribe.split(",")}, frame
        return socket

    with sockets:
        yield opener


def assert_closed_soon(socket: ClientConnection) -> int | None:
    """The server closes ``socket`` within ``CLOSE_WITHIN`` seconds; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:  # frames sent before the close are fine; the close must follow
            socket.recv(timeout=CLOSE_WITHIN)
    return closed.value.rcvd.code if closed.value.rcvd else None


def assert_still_open(socket: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        socket.recv(timeout=1.0)


def http_logout(server: AsgiServer, cookie: str) -> None:
    """Log out as the browser does: the login page's CSRF token, then POST /logout/."""
    name, value = cookie.split("=", 1)
    with httpx.Client(base_url=server.url, cookies={name: value}) as browser:
        page = browser.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "the login page carries a CSRF token"
        response = browser.post("/logout/", data={"csrfmiddlewaretoken": token.group(1)})
        assert response.status_code == 302, response.status_code


# --- sockets end with their session ---------------------------------------------------------


def test_logout_closes_the_sessions_open_socket(
    asgi_server: AsgiServer, open_socket: Any, cast: dict[str, Any]
) -> None:
    cookie = session_cookie(cast["viewer"])
    socket = open_socket(cookie)
    http_logout(asgi_server, cookie)
    assert assert_closed_soon(socket) == 4401


def test_logout_leaves_the_users_other_sessions_open(
    asgi_server: AsgiServer, open_socket: Any, cast: dict[str, Any]
) -> None:
    phone, laptop = session_cookie(cast["viewer"]), session_cookie(cast["viewer"])
    phone_socket, laptop_socket = open_socket(phone), open_socket(laptop)
    http_logout(asgi_server, phone)
    assert_closed_soon(phone_socket)
    assert_still_open(laptop_socket)


def test_deactivating_a_user_in_the_admin_closes_their_sockets(
    open_socket: Any, cast: dict[str, Any]
) -> None:
    viewer = cast["viewer"]
    socket = open_socket(session_cookie(viewer))
    # The Django admin's user pages need Django permissions: a superuser's (createsuperuser).
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser(username="root"))
    form = admin.get(f"/admin/auth/user/{viewer.pk}/change/")
    assert form.status_code == 200
    response = admin.post(
        f"/admin/auth/user/{viewer.pk}/change/",
        {
            "username": viewer.username,
            "is_active": "",  # unticked
            "groups": [group.pk for group in viewer.groups.all()],
            "date_joined_0": viewer.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": viewer.date_joined.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert assert_closed_soon(socket) == 4401


def test_losing_every_role_closes_the_socket(open_socket: Any, cast: dict[str, Any]) -> None:
    socket = open_socket(session_cookie(cast["approver"]), subscribe="inbox")
    user_role_set(user=cast["approver"], role=None)
    assert assert_closed_soon(socket) == 4403


def test_a_new_role_makes_the_socket_reconnect_under_it(
    open_socket: Any, cast: dict[str, Any]
) -> None:
    """1012 is a close the htmx ws extension answers by reconnecting: the page then subscribes
    again as what the user now is."""
    socket = open_socket(session_cookie(cast["approver"]), subscribe="inbox")
    user_role_set(user=cast["approver"], role=Role.VIEWER)
    assert assert_closed_soon(socket) == 1012


# --- every subscription checks the session --------------------------------------------------


def test_a_subscription_after_the_session_ended_is_refused_and_closes_the_socket(
    open_socket: Any, cast: dict[str, Any]
) -> None:
    """The session row goes without any event (expired and cleared, deleted by hand): the next
    subscribe finds it gone."""
    cookie = session_cookie(cast["viewer"])
    socket = open_socket(cookie)
    Session.objects.filter(session_key=cookie.split("=", 1)[1]).delete()
    socket.send(json.dumps({"type": "subscribe", "groups": ["home"]}))
    assert assert_closed_soon(socket) == 4401


def test_a_subscription_after_a_password_change_is_refused(
    open_socket: Any, cast: dict[str, Any]
) -> None:
    viewer = cast["viewer"]
    socket = open_socket(session_cookie(viewer))
    viewer.set_password("a whole new password")
    viewer.save(update_fields=["password"])
    socket.send(json.dumps({"type": "subscribe", "groups": ["home"]}))
    assert assert_closed_soon(socket) == 4401


def test_a_live_session_keeps_subscribing(open_socket: Any, cast: dict[str, Any]) -> None:
    socket = open_socket(session_cookie(cast["viewer"]))
    socket.send(json.dumps({"type": "subscribe", "groups": ["home"]}))
    assert json.loads(socket.recv(timeout=10)) == {"type": "subscribed", "groups": ["home"]}


# --- the origin: scheme, host and port -------------------------------------------------------


def handshake(server: AsgiServer, cookie: str, origin: str) -> int:
    """The HTTP status of a websocket handshake from ``origin`` (101 when accepted)."""
    try:
        with connect(
            f"{server.ws_url}/ws/?format=json",
            origin=Origin(origin),
            additional_headers={"Cookie": cookie},
            proxy=None,
            open_timeout=10,
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_the_same_origin_may_open_the_socket(asgi_server: AsgiServer, cast: dict[str, Any]) -> None:
    assert handshake(asgi_server, session_cookie(cast["viewer"]), asgi_server.url) == 101


@pytest.mark.parametrize(
    "origin",
    [
        "http://{host}:{other_port}",  # another service on the same machine
        "https://{host}:{port}",  # another scheme
        "http://evil.example:{port}",  # another host
        "null",  # sandboxed frames, file: pages
    ],
)
def test_another_origin_is_refused(
    asgi_server: AsgiServer, cast: dict[str, Any], origin: str
) -> None:
    other_port = asgi_server.port + 1 if asgi_server.port < 65535 else asgi_server.port - 1
    url = origin.format(host=asgi_server.host, port=asgi_server.port, other_port=other_port)
    assert handshake(asgi_server, session_cookie(cast["viewer"]), url) == 403
