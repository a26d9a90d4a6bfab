"""API contracts of the flows app."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class FlowSavedOut(Schema):
    slug: str
    version: int
    live_version: int | None


class FlowOut(Schema):
    slug: str
    name: str
    description: str
    demo: bool = Field(default=False, description="a flow of the demo workspace (demo data)")
    live_version: int | None
    versions: list[int]
    latest_version: int | None


class FlowListOut(Schema):
    items: list[FlowOut]
    next_cursor: str | None = None


class PublishIn(Schema):
    version: int = Field(ge=1)


class RunStartIn(Schema):
    input: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)


class RunAcceptedOut(Schema):
    run_id: str
    status: str
    created: bool = True


class StepOut(Schema):
    id: int
    node_id: str
    node_type: str
    scope: str
    status: str
    attempt: int
    max_attempts: int
    input: Any
    output: Any
    error: str
    error_class: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: str
    idempotency_key: str
    reused: bool
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None


class RunOut(Schema):
    id: str
    flow: str
    demo: bool = Field(default=False, description="a run of a demo flow (demo data)")
    version: int
    status: str
    input: Any
    subject: str
    output: Any
    error: str
    # Why a failed run failed: "domain", "transient", "crash", or "rejected" (an approval was
    # rejected and no edge continued the run); "" otherwise.
    error_class: str = ""
    retry_of: str | None
    parent_step: int | None
    tokens_in: int
    tokens_out: int
    cost: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    steps: list[StepOut] | None = None
    # The run's outbound messages by delivery status (pending, sent, failed); detail only.
    deliveries: dict[str, int] | None = None


class RunListOut(Schema):
    items: list[RunOut]
    next_cursor: str | None


class LaunchItemOut(Schema):
    key: str
    title: str
    ok: bool
    message: str
    where: dict[str, str]


class ValidationOut(Schema):
    valid: bool
    errors: list[dict[str, str]]
    launch: list[LaunchItemOut] = Field(default_factory=list)


class DiffChangeOut(Schema):
    change: Literal["added", "removed", "changed"]
    item: str
    keys: list[str] | None = None
    before: Any = None
    after: Any = None


class DiffSectionOut(Schema):
    section: str
    changed: bool
    changes: list[DiffChangeOut]


class DocumentDiffOut(Schema):
    """``flows.versions.document_diff``: what changed, section by section."""

    base: int
    changed: bool
    sections: list[DiffSectionOut]


class PreviewIn(Schema):
    """A template or condition from the editor, with sample data to render it against."""

    kind: Literal["template", "condition"]
    text: str = Field(max_length=20_000)
    input: dict[str, Any] = Field(default_factory=dict)
    #: Sample step outputs by node id (the editor sends its last test run's).
    steps: dict[str, Any] = Field(default_factory=dict)


class PreviewOut(Schema):
    #: What the template renders to (a single ``{{ expr }}`` keeps its type), or the
    #: condition's truth value.
    value: Any
