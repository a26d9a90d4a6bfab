"""The demo scenarios (``flows/demo/scenarios/<slug>.json``): six realistic inputs per template,
each valid against its template's input schema and each running to an end on scripted agents,
with outcomes that differ from input to input (the living demo runs them)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from controlroom.accounts import user_ensure
from controlroom.roles import Role
from flows.demo import DEMO_DIR, demo_documents, demo_load
from flows.engine import runs
from flows.models import Approval, Step
from flows.states import RUN_TERMINAL
from tests.support.flows import approve_all, drive, save

SCENARIO_DIR = DEMO_DIR / "scenarios"
DOCUMENTS = {document["slug"]: document for document in demo_documents()}
SLUGS = sorted(DOCUMENTS)
INPUTS_PER_TEMPLATE = 6


def inputs_of(slug: str) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = json.loads((SCENARIO_DIR / f"{slug}.json").read_text())["inputs"]
    return inputs


def test_every_template_has_a_scenario_file_and_every_file_a_template() -> None:
    files = sorted(path.stem for path in SCENARIO_DIR.glob("*.json"))
    assert files == SLUGS


@pytest.mark.parametrize("slug", SLUGS)
def test_each_scenario_holds_six_different_inputs_valid_for_its_template(slug: str) -> None:
    data = json.loads((SCENARIO_DIR / f"{slug}.json").read_text())
    assert set(data) <= {"inputs", "reject_reasons", "edit_notes"}
    inputs = data["inputs"]
    assert len(inputs) == INPUTS_PER_TEMPLATE
    assert len({json.dumps(i, sort_keys=True) for i in inputs}) == INPUTS_PER_TEMPLATE
    validator = jsonschema.Draft202012Validator(
        DOCUMENTS[slug]["input_schema"], format_checker=jsonschema.FormatChecker()
    )
    for index, data_in in enumerate(inputs):
        problems = [error.message for error in validator.iter_errors(data_in)]
        assert problems == [], f"{slug} input {index}: {problems}"


def _without_latency(document: dict[str, Any]) -> dict[str, Any]:
    """The template as it runs, minus the scripted agents' pretend thinking time."""
    fast = copy.deepcopy(document)
    for agent in fast.get("agents", []):
        agent.get("script", {}).pop("latency_ms", None)
    return fast


@pytest.fixture
def workspace(settings: Any, tmp_path: Any) -> None:
    """The demo loaded (its knowledge bases above all)."""
    settings.ENV = type(settings.ENV)(**{**settings.ENV.__dict__, "data_dir": tmp_path})
    demo_load(password="demo-password-1")


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_every_scenario_input_runs_to_success(workspace: None, slug: str) -> None:
    """Approving whatever asks for a person, each input ends ``succeeded``. In the templates
    that route by their input, some inputs reach a person and some do not (or not as often)."""
    approver = user_ensure(username="scenario-approver", role=Role.APPROVER)
    flow = save(_without_latency({**DOCUMENTS[slug], "slug": f"{slug}-scenarios"}))
    approvals = []
    for index, data in enumerate(inputs_of(slug)):
        run, _ = runs.run_start(flow=flow, input=data)
        run = drive(run, decide=approve_all(approver))
        assert run.status in RUN_TERMINAL, f"{slug} input {index} stalled: {run.status}"
        assert run.status == "succeeded", f"{slug} input {index}: {run.error}"
        assert Step.objects.filter(run=run, status="failed").count() == 0
        approvals.append(Approval.objects.filter(run=run).count())
    if slug in ROUTED:
        assert len(set(approvals)) > 1, f"{slug}: approvals per input {approvals} do not vary"


#: Templates whose scripted rules send some inputs to a person and not others (in the other two,
#: a person reviews every case: their variety is in what the agents find and write).
ROUTED = set(SLUGS) - {"financial-analysis", "invoice-reconciliation"}
