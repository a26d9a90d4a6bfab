"""Managing guardrail policies: create, change, enable/disable, delete, and the reads the
policy pages and ``/api/policies`` share. Every change is audited (kind ``config``) in the same
transaction as the change.

Who may change what (``policy_authorise``, asked by every function here that writes, so the
API, the pages and anything else calling them obey the same rule): a role that may design
(``Capability.DESIGN``) creates, changes, enables, disables and deletes policies scoped to a
flow, an agent or a tool; a *global* policy applies to every flow, so only an admin creates,
changes, enables, disables or deletes one, or moves a policy into or out of global scope.
A refused change raises ``PolicyForbidden`` (a 403) and writes nothing.

``policy_check`` validates a whole policy the same way for the form, the API and the
simulator: each problem is ``(pointer, message)`` with a JSON pointer into the policy body
(``/slug``, ``/verdict``, ``/config/window``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from agents.audit import audit_record
from agents.models import Policy
from agents.policies.config import VERDICTS_BY_KIND, config_errors, verdict_errors
from agents.policies.facts import KINDS, SCOPES, PolicySpec
from controlroom.roles import Capability, Role, can, roles_of

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
RESERVED_SLUGS = frozenset({"new", "simulate"})
FIELDS = ("slug", "name", "kind", "scope", "target", "verdict", "reason", "config", "enabled")

#: What each kind does, in a sentence, for the form and the list.
EXPLANATIONS: dict[str, str] = {
    "approval": "Gate tool calls for a person's approval: by tool or category (payment, "
    "outbound_message...), by a condition on the arguments (args.amount > 500), or answers "
    "below a confidence.",
    "rate_limit": "At most N matching tool calls per subject (e.g. per contact) in a window, "
    "counted across every flow; exact under concurrency.",
    "quiet_hours": "No matching tool calls between two clock times in a time zone (e.g. no "
    "messages 20:00-08:00 Europe/Berlin).",
    "budget": "Tokens and/or money per run, or per flow per day or month, checked before each "
    "model call with an estimate.",
    "limits": "Stop runaway runs: max steps, loop iterations, run time, agent turns.",
    "tool_scope": "Which tools agents may use: only an allow list, or never a deny list.",
    "pii": "Redact e-mail addresses, phone numbers, card numbers, IBANs and your own patterns "
    "before text leaves for an external model; restore them in the answer if you want.",
    "content": "Check agents' answers for blocked phrases or patterns.",
}


class PolicyInvalid(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("the policy is invalid")
        self.message = "the policy is invalid"
        self.problems = problems

    @property
    def details(self) -> list[dict[str, str]]:
        return [{"pointer": pointer, "message": message} for pointer, message in self.problems]


class PolicyConflict(Exception):
    pass


class PolicyForbidden(Exception):
    """The caller's role may not make this change; the message says why (answered as 403)."""


GLOBAL = "global"


def policy_authorise(*, user: Any, action: str, policy: Policy | None, scope: Any = None) -> None:
    """Refuse (``PolicyForbidden``) ``action`` (a verb: "create", "change", "disable"...) by
    ``user`` on ``policy`` (None when creating) whose scope becomes ``scope`` (None: stays).

    ``user`` must be allowed to design. Touching a global policy, or making a policy global,
    needs the admin role. Reads nothing from the database (roles are cached on the user)."""
    if not can(user, Capability.DESIGN):
        raise PolicyForbidden(f"your role may not {action} policies")
    if Role.ADMIN in roles_of(user):
        return
    if policy is not None and policy.scope == GLOBAL:
        raise PolicyForbidden(
            f"policy {policy.slug!r} is global (it applies to every flow): only an admin may "
            f"{action} it"
        )
    if scope == GLOBAL:
        raise PolicyForbidden(
            "only an admin may make a policy global; scope it to a flow, an agent or a tool"
        )


@dataclass(frozen=True)
class PolicyFilters:
    kind: str = ""
    scope: str = ""
    target: str = ""
    enabled: bool | None = None
    query: str = ""


def policy_check(values: dict[str, Any], *, creating: bool = True) -> list[tuple[str, str]]:
    """Every problem of a complete policy body (after defaults), as ``(pointer, message)``."""
    problems = _slug_problems(values.get("slug")) if creating else []
    name = values.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(("/name", "a name of 1 to 200 characters"))
    kind = values.get("kind")
    if kind not in KINDS:
        problems.append(("/kind", f"one of: {', '.join(KINDS)}"))
        return problems
    problems += _scope_problems(values.get("scope"), values.get("target"))
    verdict = values.get("verdict")
    problems += [("/verdict", message) for _, message in verdict_errors(kind, str(verdict))]
    reason = values.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        problems.append(("/reason", "at most 500 characters"))
    if not isinstance(values.get("enabled", True), bool):
        problems.append(("/enabled", "true or false"))
    problems += [
        ("/config" + ("" if pointer == "/" else pointer), message)
        for pointer, message in config_errors(kind, values.get("config"))
    ]
    return problems


def _slug_problems(slug: object) -> list[tuple[str, str]]:
    """Why ``slug`` cannot name a new policy: malformed or reserved (none when it can)."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        return [("/slug", "lower-case letters, digits and hyphens, up to 80")]
    if slug in RESERVED_SLUGS:
        return [("/slug", f"{slug!r} is reserved; choose another slug")]
    return []


def _scope_problems(scope: object, target: object) -> list[tuple[str, str]]:
    """The first problem of a ``scope`` and ``target`` pair: an unknown scope, a global policy
    with a target, a scoped one without, a target over 200 characters."""
    if scope not in SCOPES:
        return [("/scope", f"one of: {', '.join(SCOPES)}")]
    if scope == "global" and target:
        return [("/target", "a global policy has no target")]
    if scope != "global" and (not isinstance(target, str) or not target.strip()):
        return [("/target", f"name the {scope} this policy applies to")]
    if isinstance(target, str) and len(target) > 200:
        return [("/target", "at most 200 characters")]
    return []


def policy_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """Fill what a new policy may leave out: global scope, the kind's usual verdict."""
    kind = values.get("kind")
    verdicts = VERDICTS_BY_KIND.get(kind, ("block",)) if isinstance(kind, str) else ("block",)
    return {
        "scope": "global",
        "target": "",
        "verdict": verdicts[0],
        "reason": "",
        "config": {},
        "enabled": True,
        **{key: value for key, value in values.items() if value is not None},
    }


def policy_spec(values: dict[str, Any]) -> PolicySpec:
    """An unsaved policy (a form being filled in) as something ``evaluate`` reads."""
    return PolicySpec(
        slug=str(values.get("slug") or "unsaved-policy"),
        kind=str(values["kind"]),
        verdict=str(values["verdict"]),
        reason=str(values.get("reason") or ""),
        config=values.get("config") or {},
        scope=str(values.get("scope") or "global"),
        target=str(values.get("target") or ""),
    )


def _audit(policy: Policy, action: str, data: dict[str, Any]) -> None:
    audit_record(
        kind="config",
        action=f"policy.{action}",
        subject=policy.slug,
        reason=policy.reason,
        data={"kind": policy.kind, "scope": policy.scope, "target": policy.target, **data},
    )


def policy_create(*, values: dict[str, Any], user: Any) -> Policy:
    """Create a policy as ``user``. Raises ``PolicyForbidden`` (a global policy by a
    non-admin: the scope defaults to global), ``PolicyInvalid`` (pointers) or
    ``PolicyConflict`` (slug taken)."""
    values = policy_defaults({key: values.get(key) for key in FIELDS})
    policy_authorise(user=user, action="create", policy=None, scope=values["scope"])
    problems = policy_check(values)
    if problems:
        raise PolicyInvalid(problems)
    creator = user if user is not None and getattr(user, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            policy = Policy.objects.create(**values, created_by=creator)
            _audit(
                policy,
                "created",
                {"verdict": policy.verdict, "enabled": policy.enabled, "config": policy.config},
            )
    except IntegrityError:
        raise PolicyConflict(f"a policy with slug {values['slug']!r} exists already") from None
    return policy


def policy_update(*, policy: Policy, changes: dict[str, Any], user: Any) -> Policy:
    """Change some fields of ``policy`` (not its slug) as ``user``; authorised first
    (``PolicyForbidden``), then the whole result is validated (``PolicyInvalid``)."""
    policy_authorise(user=user, action="change", policy=policy, scope=changes.get("scope"))
    if "slug" in changes and changes["slug"] != policy.slug:
        raise PolicyInvalid([("/slug", "a policy's slug cannot change")])
    current = {key: getattr(policy, key) for key in FIELDS}
    merged = {**current, **{k: v for k, v in changes.items() if k in FIELDS and k != "slug"}}
    problems = policy_check(merged, creating=False)
    if problems:
        raise PolicyInvalid(problems)
    changed = sorted(key for key in FIELDS if merged[key] != current[key])
    if not changed:
        return policy
    with transaction.atomic():
        for key in changed:
            setattr(policy, key, merged[key])
        policy.save(update_fields=[*changed, "updated_at"])
        before = {key: current[key] for key in changed}
        after = {key: merged[key] for key in changed}
        _audit(policy, "updated", {"changed": changed, "before": before, "after": after})
    return policy


def policy_enable(*, policy: Policy, enabled: bool, user: Any) -> Policy:
    """Turn a policy on or off as ``user`` (``PolicyForbidden`` when their role may not; a
    no-op, not audited, when it already is)."""
    policy_authorise(user=user, action="enable" if enabled else "disable", policy=policy)
    if policy.enabled == enabled:
        return policy
    with transaction.atomic():
        Policy.objects.filter(id=policy.id).update(enabled=enabled)
        policy.refresh_from_db()
        _audit(policy, "enabled" if enabled else "disabled", {})
    return policy


def policy_delete(*, policy: Policy, user: Any) -> None:
    """Delete ``policy`` as ``user`` (``PolicyForbidden`` when their role may not), audited."""
    policy_authorise(user=user, action="delete", policy=policy)
    with transaction.atomic():
        _audit(policy, "deleted", {"verdict": policy.verdict, "config": policy.config})
        policy.delete()


def policy_list(filters: PolicyFilters | None = None) -> QuerySet[Policy]:
    filters = filters or PolicyFilters()
    rows = Policy.objects.all()
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.scope:
        rows = rows.filter(scope=filters.scope)
    if filters.target:
        rows = rows.filter(target=filters.target)
    if filters.enabled is not None:
        rows = rows.filter(enabled=filters.enabled)
    if filters.query:
        rows = rows.filter(
            Q(slug__icontains=filters.query)
            | Q(name__icontains=filters.query)
            | Q(reason__icontains=filters.query)
        )
    return rows


def policy_get(*, slug: str) -> Policy | None:
    return Policy.objects.filter(slug=slug).first()


def policy_dict(policy: Policy) -> dict[str, Any]:
    return {
        "slug": policy.slug,
        "name": policy.name,
        "kind": policy.kind,
        "scope": policy.scope,
        "target": policy.target,
        "verdict": policy.verdict,
        "reason": policy.reason,
        "config": policy.config,
        "enabled": policy.enabled,
        "created_by": policy.created_by.get_username() if policy.created_by else None,
        "created_at": policy.created_at.isoformat(),
        "updated_at": policy.updated_at.isoformat(),
    }
