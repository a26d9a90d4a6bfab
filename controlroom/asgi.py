"""ASGI entry point: HTTP through Django, the one websocket at /ws/ through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlroom.settings.dev")
# No persistent connections here: each request runs on a thread of its own, and a connection
# kept by a thread that is gone is never reused (controlroom.env.database_from_url).
os.environ.setdefault("CONTROLROOM_CONN_MAX_AGE", "0")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from controlroom.consumers import EventsConsumer  # noqa: E402
from controlroom.origins import WebsocketOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        # Same origin (scheme, host and port) or CSRF_TRUSTED_ORIGINS only: controlroom.origins.
        "websocket": WebsocketOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/", EventsConsumer.as_asgi())]))
        ),
    }
)
