from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from controlroom import accounts
from controlroom.accounts import session_logout, token_issue
from controlroom.forms import TokenForm
from controlroom.health import health_check
from controlroom.roles import Role, roles_of


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    ok, checks = health_check()
    return JsonResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
    )


# --- accounts: logout and API tokens ----------------------------------------------------------


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST only), through ``accounts.session_logout`` so that the session's
    open websockets close too. Also serves the admin site's logout URL."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session_logout(request=request)
        return HttpResponseRedirect(self.get_success_url())


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """The signed-in user's API tokens (an admin's page lists everyone's); POST issues one for
    the user and shows it once."""
    issued = None
    form = TokenForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            issued = token_issue(user=request.user, name=form.cleaned_data["name"])
            status = 201
            form = TokenForm()
        else:
            status = 422
    context = {
        "tokens": accounts.token_list(viewer=request.user),
        "is_admin": Role.ADMIN in roles_of(request.user),
        "form": form,
        "issued": issued,
        "nav": "tokens",
    }
    return render(request, "controlroom/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    """Revoke the token with ``prefix`` (own, or anyone's for an admin)."""
    try:
        token = accounts.token_get(viewer=request.user, prefix=prefix)
    except accounts.TokenNotFound as exc:
        raise Http404(str(exc)) from None
    except accounts.TokenAmbiguous as exc:
        messages.error(request, f"{exc}: revoke it with `manage.py revoke_token --user`.")
        return redirect("token_list")
    accounts.token_revoke(token=token)
    messages.success(request, f"Token {token.prefix}… ({token.name}) revoked.")
    return redirect("token_list")
