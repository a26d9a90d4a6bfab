"""The secrets page: names, descriptions and where each may be sent; admins set and delete
values, which are never rendered, not even back into a form that failed, and are the only ones
who set where a secret may go (allowed hosts, provider connections)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents import forms, secrets, selectors
from agents.views.common import is_admin, require, require_admin, section
from controlroom.roles import Capability


def _secret_page(request: HttpRequest, form: forms.SecretForm, status: int = 200) -> HttpResponse:
    context = section(
        "secrets",
        secrets=list(selectors.secret_list()),
        form=form,
        can_admin=is_admin(request),
    )
    return render(request, "agents/secret_list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def secret_list(request: HttpRequest) -> HttpResponse:
    require(request, Capability.VIEW)
    if request.method != "POST":
        name = request.GET.get("name", "")
        existing = selectors.secret_get(name=name) if name else None
        initial = forms.SecretForm.initial_for(existing) if existing else {"name": name}
        return _secret_page(request, forms.SecretForm(initial=initial))
    require_admin(request)
    form = forms.SecretForm(request.POST)
    if not form.is_valid():
        return _secret_page(request, form, status=422)
    data = form.cleaned_data
    binding = {"allowed_hosts": data["allowed_hosts"], "connections": data["connections"]}
    try:
        if data["value"]:
            secret = secrets.secret_set(
                name=data["name"], value=data["value"], description=data["description"], **binding
            )
        else:
            secret = secrets.secret_bind(
                name=data["name"], description=data["description"], **binding
            )
    except secrets.SecretMissing:
        form.add_error("value", "A new secret needs a value.")
        return _secret_page(request, form, status=422)
    except secrets.SecretInvalid as exc:
        form.add_error(None, str(exc))
        return _secret_page(request, form, status=422)
    except secrets.SecretsNotConfigured as exc:
        form.add_error(None, str(exc))
        return _secret_page(request, form, status=503)
    messages.success(request, f"Secret {secret.name} saved. Its value is not shown again.")
    return redirect("secret_list")


@login_required
@require_POST
def secret_delete(request: HttpRequest, name: str) -> HttpResponse:
    require_admin(request)
    if selectors.secret_get(name=name) is None:
        raise Http404(f"no secret {name!r}")
    try:
        secrets.secret_delete(name=name)
    except ProtectedError as exc:
        users = ", ".join(sorted({str(row) for row in exc.protected_objects}))
        messages.error(request, f"Secret {name} is in use by {users}; point those elsewhere first.")
    else:
        messages.success(request, f"Secret {name} deleted.")
    return redirect("secret_list")
