"""The JSON API: one NinjaAPI, a router per app, bearer or session auth, one error shape."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Schema, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from controlroom import jsondata, outage, ratelimit
from controlroom.accounts import token_authenticate
from controlroom.roles import Capability, Role, can, roles_of

MAX_BODY_DEPTH = 64


class ErrorDetail(Schema):
    pointer: str
    message: str


class ErrorBody(Schema):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorOut(Schema):
    """Every error answer of the API (``error_body``): a code, a message, and per problem a
    JSON pointer and a message."""

    error: ErrorBody


#: The error answers any operation may give; each operation adds its success statuses (and an
#: operation that may give another one, such as 502 from an upstream, adds that).
ERRORS: dict[int, Any] = {
    status: ErrorOut for status in (400, 401, 403, 404, 405, 409, 413, 422, 429, 503)
}


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


#: What an operation needs beyond a signed-in user: a capability or a role.
Need = Capability | Role


def permits(user: Any, need: Need | None) -> bool:
    """Whether ``user`` holds ``need`` (a capability any of their roles grants, or the role
    itself); ``None`` needs nothing beyond being signed in."""
    if need is None:
        return True
    if isinstance(need, Role):
        return need in roles_of(user)
    return can(user, need)


class _Authorising:
    """Authentication that authorises too: ninja runs auth before it parses the path, query
    and body, so a caller whose role may not use an operation gets 403 before anything they
    sent is validated (a viewer never learns a designer endpoint's schema from a 422)."""

    need: Need | None = None
    refusal: str = ""

    def _authorise(self, user: Any) -> None:
        if not permits(user, self.need):
            raise HttpError(403, self.refusal)


class BearerAuth(_Authorising, HttpBearer):
    def __init__(self, need: Need | None = None, refusal: str = "") -> None:
        self.need, self.refusal = need, refusal
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_authenticate(token)
        if user is not None:
            # Per-token fixed window, counted in Redis so every web process shares it.
            per_minute = int(settings.CONTROLROOM["API_RATE_PER_MINUTE"])
            key = "api-token:" + hashlib.sha256(token.encode()).hexdigest()[:24]
            retry_after = ratelimit.hit(key, limit=per_minute, window=60)
            if retry_after is not None:
                raise RateLimited(retry_after)
            request.user = user
            self._authorise(user)
        return user


class SessionAuth(_Authorising, APIKeyCookie):
    """The browser's Django session (CSRF-checked), so pages can call the API too."""

    param_name = "sessionid"

    def __init__(self, need: Need | None = None, refusal: str = "") -> None:
        self.need, self.refusal = need, refusal
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        self._authorise(user)
        return user


@functools.cache
def requires(need: Need, *, refusal: str = "") -> list[HttpBearer | APIKeyCookie]:
    """The ``auth=`` of a router or an operation that only callers holding ``need`` may use
    (``@router.post(..., auth=requires(Capability.DESIGN))``): a bearer token or a session as
    always, then the caller's roles, before ninja reads the path, query or body.

    No credentials: 401 ``unauthenticated``. Credentials without ``need``: 403 ``forbidden``
    with ``refusal`` (default: "your role may not <capability>" / "only an <role> may do
    this"). Object-level rules (who may decide this approval) stay with the domain."""
    if not refusal:
        refusal = (
            f"only an {need.value} may do this"
            if isinstance(need, Role)
            else f"your role may not {need.value}"
        )
    return [BearerAuth(need, refusal), SessionAuth(need, refusal)]


class JsonObjectParser(Parser):
    """Request bodies are JSON objects that PostgreSQL can store (no NaN or Infinity, no NUL
    characters, at most ``MAX_BODY_DEPTH`` levels deep, checked before parsing); anything else
    is refused before a handler sees it, as a 400 whose message says why (``BodyError``)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data = jsondata.json_parse(request.body, max_depth=MAX_BODY_DEPTH)
        except ValueError as exc:
            raise BodyError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BodyError("the request body must be a JSON object")
        problem = jsondata.first_problem(
            data, max_values=len(request.body), max_depth=MAX_BODY_DEPTH
        )
        if problem is not None:
            raise BodyError(f"the request body is refused: {problem[1]}")
        return data


class BodyError(jsondata.DataError):
    """A request body ``JsonObjectParser`` refused; ninja turns it into a 400 whose cause it
    is, and ``_http_error`` answers with its message."""


class ControlRoomAPI(NinjaAPI):
    """Errors from routing keep the one error shape too: an unknown path under the API is a
    JSON 404 and a known path with the wrong method a JSON 405 (Django and ninja answer those
    in HTML and plain text)."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_method_not_allowed(pattern.callback)
        urls.append(re_path(r"^.*$", _unknown_path, name="unknown"))
        return urls


def _json_method_not_allowed(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            json_response = error_response(
                request,
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here (allowed: {allowed})",
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapper


@csrf_exempt
def _unknown_path(request: HttpRequest) -> HttpResponse:
    return error_response(request, 404, "not_found", f"no API endpoint at {request.path}")


api = ControlRoomAPI(
    parser=JsonObjectParser(),
    title="Agent Ops Control Room API",
    version="1",
    auth=[BearerAuth(), SessionAuth()],
    docs_url="/docs",
    # No validator badge: Swagger UI would load it from validator.swagger.io, an image the CSP
    # refuses (and a request that tells a third party where our spec lives).
    docs=Swagger(settings={"validatorUrl": None}),
    openapi_url="/openapi.json",
    urls_namespace="api",
)


def error_body(
    code: str, message: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
) -> HttpResponse:
    return api.create_response(request, error_body(code, message, details), status=status)


def _outage(request: HttpRequest, exc: Exception) -> HttpResponse:
    return outage.outage_response(request, exc)


# PostgreSQL or Redis unreachable: 503 with Retry-After in the error shape (a 500 otherwise,
# or a traceback under DEBUG).
for _error in outage.OUTAGE_ERRORS:
    api.add_exception_handler(_error, _outage)  # type: ignore[arg-type,type-var]


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = []
    for error in exc.errors:
        # Where a parameter came from (a JSON body, a multipart file) is not part of its pointer.
        loc = [
            str(part) for part in error.get("loc", []) if part not in ("body", "payload", "file")
        ]
        details.append({"pointer": "/" + "/".join(loc), "message": str(error.get("msg", ""))})
    return error_response(request, 422, "invalid", "the request is invalid", details)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request, 401, "unauthenticated", "a valid bearer token or session is required"
    )


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(request, 413, "too_large", f"the request body exceeds {limit} bytes")


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error_response(request, 429, "rate_limited", str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {
        400: "invalid",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        429: "rate_limited",
    }
    # ninja answers any body its parser refused with "Cannot parse request body"; say why.
    message = str(exc.__cause__) if isinstance(exc.__cause__, BodyError) else str(exc)
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), message)


def mount() -> None:
    from agents.api import router as agents_router
    from agents.api_config import router as config_router
    from agents.audit.api import router as audit_router
    from agents.policies.api import router as policies_router
    from controlroom.api_tokens import router as tokens_router
    from controlroom.observability.api import router as metrics_router
    from flows.api import router as flows_router
    from flows.approvals.api import router as approvals_router
    from flows.killswitch.api import router as killswitch_router
    from flows.roi.api import router as roi_router
    from flows.triggers.api import hooks as hooks_router
    from flows.triggers.api import router as triggers_router

    api.add_router("/", flows_router)
    api.add_router("/", approvals_router)
    api.add_router("/", triggers_router)
    api.add_router("/", roi_router)
    api.add_router("/", hooks_router)
    api.add_router("/", agents_router)
    api.add_router("/", config_router)
    api.add_router("/", policies_router)
    api.add_router("/", metrics_router)
    api.add_router("/", killswitch_router)
    api.add_router("/", audit_router)
    api.add_router("/", tokens_router)


mount()
