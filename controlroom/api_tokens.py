"""API tokens over the API: ``GET /api/tokens`` (own; an admin's lists everyone's, or one
user's with ``?user=``), ``POST /api/tokens`` (issue one for the caller, shown once) and
``DELETE /api/tokens/{prefix}`` (revoke own, or anyone's as an admin). Thin: parse, authorise,
call ``controlroom.accounts``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from controlroom import accounts
from controlroom.api import ERRORS
from controlroom.models import ApiToken
from controlroom.roles import Role, roles_of

router = Router(tags=["tokens"])


class TokenOut(Schema):
    prefix: str = Field(description="the token's first 10 characters, as shown everywhere")
    name: str
    user: str
    created_at: datetime
    last_used_at: datetime | None


class TokenListOut(Schema):
    items: list[TokenOut]
    next_cursor: str | None = None


class TokenQuery(Schema):
    user: str = Field(default="", description="an admin's filter: one user's tokens")


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=accounts.TOKEN_NAME_MAX)


class TokenIssuedOut(TokenOut):
    token: str = Field(description="the bearer token; shown once, never again")


def _out(row: ApiToken) -> dict[str, Any]:
    return {
        "prefix": row.prefix,
        "name": row.name,
        "user": row.user.get_username(),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


@router.get("/tokens", response={200: TokenListOut, **ERRORS}, summary="Live API tokens")
def token_list(request: HttpRequest, params: Query[TokenQuery]) -> Any:
    owner = None
    if params.user:
        if Role.ADMIN not in roles_of(request.user):
            raise HttpError(403, "only an admin may list another user's tokens")
        owner = get_user_model().objects.filter(username=params.user).first()
        if owner is None:
            raise HttpError(404, f"no user {params.user!r}")
    rows = accounts.token_list(viewer=request.user, owner=owner)
    return {"items": [_out(row) for row in rows], "next_cursor": None}


@router.post("/tokens", response={201: TokenIssuedOut, **ERRORS}, summary="Issue a token")
def token_issue(request: HttpRequest, payload: TokenIn) -> Any:
    token, row = accounts.token_create(user=request.user, name=payload.name)
    return 201, {**_out(row), "token": token}


@router.delete("/tokens/{prefix}", response={204: None, **ERRORS}, summary="Revoke a token")
def token_revoke(request: HttpRequest, prefix: str) -> Any:
    try:
        token = accounts.token_get(viewer=request.user, prefix=prefix)
    except accounts.TokenNotFound as exc:
        raise HttpError(404, str(exc)) from None
    except accounts.TokenAmbiguous as exc:
        raise HttpError(409, f"{exc}; revoke it with `manage.py revoke_token --user`") from None
    accounts.token_revoke(token=token)
    return HttpResponse(status=204)
