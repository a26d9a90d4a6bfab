"""The ``controlroom.flow/v1`` validator: every problem comes with a JSON pointer and a message
that says what is wrong; valid documents (the demo flows among them) pass and round-trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from django.test import Client

from agents import tools
from controlroom.accounts import token_issue, user_ensure
from controlroom.roles import Role
from flows.demo import demo_documents
from flows.document import (
    InvalidDocument,
    Problem,
    document_parse,
    document_problems,
)
from tests.support.flows import document, node, scripted

KNOWN_TOOLS = {"send_email"}


def _problems(doc: dict[str, Any], **known: Any) -> list[tuple[str, str]]:
    known.setdefault("known_agents", set())
    known.setdefault("known_tools", KNOWN_TOOLS)
    return [(p.pointer, p.message) for p in document_problems(doc, **known)]


def _valid() -> dict[str, Any]:
    """write (agent) -> done (end); valid as it is."""
    return document(
        "doc-test",
        [
            {
                **node("write", "agent", agent="writer", prompt="{{ input.topic }}"),
                "position": {"x": 0, "y": 0},
            },
            {**node("done", "end"), "position": {"x": 200, "y": 0}},
        ],
        [("write", "done")],
        agents=[scripted("writer", "a draft")],
        subject="{{ input.topic }}",
    )


def _loop_document(*extra_edges: tuple[str, str]) -> dict[str, Any]:
    """start -> draft -> audit -> again (loop back to draft) -> done, plus an unused end."""
    return document(
        "loop-test",
        [
            node("start", "router"),
            node("draft", "router"),
            node("audit", "router"),
            node("again", "loop", until="steps.audit.output.routes", max_iterations=3),
            node("done", "end"),
            node("side", "end"),
        ],
        [
            ("start", "draft"),
            ("draft", "audit"),
            ("audit", "again"),
            ("again", "draft"),
            ("again", "done"),
            ("start", "side"),
            *extra_edges,
        ],
    )


def test_a_valid_document_has_no_problems() -> None:
    assert _problems(_valid()) == []


@pytest.mark.parametrize("name", sorted(d["slug"] for d in demo_documents()))
def test_every_demo_document_is_valid(name: str) -> None:
    demo = next(d for d in demo_documents() if d["slug"] == name)
    assert _problems(demo, known_tools=set(tools.static_tools())) == []


def test_an_unknown_node_type_is_reported_at_the_type() -> None:
    doc = _valid()
    doc["nodes"][1]["type"] = "teleport"
    [(pointer, message)] = _problems(doc)
    assert pointer == "/nodes/1/type"
    assert message.startswith("unknown node type 'teleport' (known: agent, approval, end,")


def test_duplicate_node_ids_are_reported_with_a_pointer() -> None:
    doc = _valid()
    doc["nodes"].append(node("write", "end"))
    assert _problems(doc) == [("/nodes/2/id", "duplicate node id 'write'")]


@pytest.mark.parametrize("end", ["from", "to"])
def test_a_dangling_edge_is_reported_at_its_dangling_end(end: str) -> None:
    doc = _valid()
    doc["edges"].append({"from": "write", "to": "done", end: "nowhere"})
    assert _problems(doc) == [(f"/edges/1/{end}", "edge points to unknown node 'nowhere'")]


def test_a_second_disconnected_start_is_unreachable() -> None:
    doc = _valid()
    doc["nodes"] += [node("island", "router"), node("island_end", "end")]
    doc["edges"].append({"from": "island", "to": "island_end"})
    assert _problems(doc) == [
        ("/nodes/2", "node 'island' is unreachable from the start"),
        ("/nodes/3", "node 'island_end' is unreachable from the start"),
    ]


def test_a_cycle_outside_a_loop_node_is_refused() -> None:
    doc = _valid()
    doc["nodes"][1:1] = [node("ping", "router"), node("pong", "router")]
    doc["edges"] = [
        {"from": "write", "to": "ping"},
        {"from": "ping", "to": "pong"},
        {"from": "pong", "to": "ping"},
        {"from": "pong", "to": "done"},
    ]
    assert _problems(doc) == [
        (
            "/edges",
            "cycle outside a loop node through done, ping, pong "
            "(a cycle must go back through a loop node)",
        ),
    ]


def test_a_cycle_through_a_loop_node_is_accepted() -> None:
    assert _problems(_loop_document()) == []


def test_nested_loops_are_accepted() -> None:
    doc = document(
        "nested",
        [
            node("start", "router"),
            node("outer_head", "router"),
            node("inner_head", "router"),
            node("inner", "loop", until="false", max_iterations=2),
            node("check", "router"),
            node("outer", "loop", until="false", max_iterations=2),
            node("done", "end"),
        ],
        [
            ("start", "outer_head"),
            ("outer_head", "inner_head"),
            ("inner_head", "inner"),
            ("inner", "inner_head"),
            ("inner", "check"),
            ("check", "outer"),
            ("outer", "outer_head"),
            ("outer", "done"),
        ],
    )
    assert _problems(doc) == []


def test_an_edge_leaving_a_loop_body_not_through_the_loop_node_is_refused() -> None:
    doc = _loop_document(("audit", "side"))
    assert _problems(doc) == [
        ("/edges/6", "edge leaves loop 'again' from inside its body; leave through the loop node"),
    ]


def test_an_edge_entering_a_loop_body_past_its_head_is_refused() -> None:
    doc = _loop_document(("start", "audit"))
    assert ("/edges/6", "edge enters loop 'again' at 'audit'; enter at 'draft'") in _problems(doc)


def test_an_edge_into_the_loop_node_from_outside_its_body_is_refused() -> None:
    doc = _loop_document(("start", "again"))
    assert ("/edges/6", "edge enters loop 'again' at 'again'; enter at 'draft'") in _problems(doc)


@pytest.mark.parametrize(
    ("where", "value", "pointer", "message"),
    [
        ("prompt", "Hi {{ input.name ", "/nodes/0/config/prompt", "template syntax error: "),
        (
            "prompt",
            "{% for x in %}{% endfor %}",
            "/nodes/0/config/prompt",
            "template syntax error: ",
        ),
        (
            "prompt",
            "{{ self }}",
            "/nodes/0/config/prompt",
            "template syntax error: 'self' is not available in templates",
        ),
        ("when", "steps.write.output >", "/edges/0/when", "condition syntax error: "),
        (
            "when",
            "{{ steps.write.output }}",
            "/edges/0/when",
            "a condition is a bare expression, without {{ }}",
        ),
        ("subject", "{{ input.email", "/subject", "template syntax error: "),
    ],
)
def test_bad_template_and_condition_syntax_is_reported_where_it_is(
    where: str, value: str, pointer: str, message: str
) -> None:
    doc = _valid()
    if where == "prompt":
        doc["nodes"][0]["config"]["prompt"] = value
    elif where == "when":
        doc["edges"][0]["when"] = value
    else:
        doc["subject"] = value
    [(found_pointer, found_message)] = _problems(doc)
    assert found_pointer == pointer
    assert found_message.startswith(message)


def test_templates_inside_an_object_config_are_checked_at_their_own_pointer() -> None:
    doc = _valid()
    doc["nodes"][1]["config"] = {"output": {"summary": {"text": "{{ input.topic "}}}
    [(pointer, message)] = _problems(doc)
    assert pointer == "/nodes/1/config/output/summary/text"
    assert message.startswith("template syntax error")


@pytest.mark.parametrize("reference", ["steps.missing.output", "steps['missing'].output"])
def test_a_reference_to_a_missing_step_is_reported(reference: str) -> None:
    doc = _valid()
    doc["nodes"][0]["config"]["prompt"] = "Use {{ " + reference + " }}"
    doc["edges"][0]["when"] = reference + " == 1"
    assert _problems(doc) == [
        ("/nodes/0/config/prompt", "refers to steps.missing, but there is no node 'missing'"),
        ("/edges/0/when", "refers to steps.missing, but there is no node 'missing'"),
    ]


def test_missing_required_config_names_the_field() -> None:
    doc = _valid()
    doc["nodes"][0]["config"] = {"prompt": "hello"}
    assert _problems(doc) == [("/nodes/0/config", "missing required field 'agent'")]


def test_a_node_without_config_is_checked_as_an_empty_config() -> None:
    doc = _valid()
    del doc["nodes"][0]["config"]
    assert _problems(doc) == [("/nodes/0/config", "missing required field 'agent'")]


def test_an_unknown_config_field_is_reported_at_the_field() -> None:
    doc = _valid()
    doc["nodes"][0]["config"]["temprature"] = 0.2
    assert _problems(doc) == [("/nodes/0/config/temprature", "unknown field 'temprature'")]


def test_an_unknown_top_level_field_is_reported_at_the_field() -> None:
    doc = _valid()
    doc["triggers"] = []
    assert _problems(doc) == [("/triggers", "unknown field 'triggers'")]


def test_a_config_value_of_the_wrong_type_is_reported_at_the_value() -> None:
    doc = _valid()
    doc["nodes"][0]["config"]["retry"] = {"max_attempts": 0}
    assert _problems(doc) == [
        ("/nodes/0/config/retry/max_attempts", "0 is less than the minimum of 1"),
    ]


def test_an_unknown_agent_slug_is_reported() -> None:
    doc = _valid()
    doc["nodes"][0]["config"]["agent"] = "ghost-writer"
    assert _problems(doc) == [("/nodes/0/config/agent", "unknown agent 'ghost-writer'")]


def test_an_agent_from_the_agent_table_is_known() -> None:
    doc = _valid()
    doc["agents"] = []
    assert _problems(doc, known_agents={"writer"}) == []
    assert _problems(doc, known_agents=set()) == [
        ("/nodes/0/config/agent", "unknown agent 'writer'"),
    ]


def test_an_unknown_tool_is_reported() -> None:
    doc = _valid()
    doc["nodes"][0] = node("write", "tool", tool="fax_machine", args={"to": "{{ input.to }}"})
    assert _problems(doc) == [("/nodes/0/config/tool", "unknown tool 'fax_machine'")]


@pytest.mark.parametrize(
    "config", [{"seconds": 5, "until": "2030-01-01T00:00:00Z"}, {}], ids=["both", "neither"]
)
def test_a_wait_needs_exactly_one_of_seconds_or_until(config: dict[str, Any]) -> None:
    doc = _valid()
    doc["nodes"][0] = node("write", "wait", **config)
    assert _problems(doc) == [("/nodes/0/config", "wait needs exactly one of seconds or until")]


def test_a_join_in_first_mode_needs_a_count() -> None:
    doc = _valid()
    doc["nodes"][0] = node("write", "join", mode="first")
    assert _problems(doc) == [("/nodes/0/config/count", "join mode 'first' needs a count")]


def _map_document(body: str | None, *extra_edges: tuple[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {"items": "{{ input.leads }}"}
    if body is not None:
        config["body"] = body
    return document(
        "map-test",
        [
            node("fan", "map", **config),
            node("each", "tool", tool="send_email", args={"to": "{{ item }}", "body": "Hi"}),
            node("done", "end"),
        ],
        [("fan", "done"), *extra_edges],
    )


def test_a_map_body_is_accepted_when_it_has_no_edges() -> None:
    assert _problems(_map_document("each")) == []


def test_a_map_body_with_edges_is_refused() -> None:
    problems = _problems(_map_document("each", ("each", "done")))
    assert problems[0] == (
        "/nodes/0/config/body",
        "map body 'each' must have no edges (it runs once per item)",
    )


def test_a_map_body_that_is_not_a_node_is_refused() -> None:
    problems = _problems(_map_document("ghost"))
    assert problems[0] == ("/nodes/0/config/body", "map body 'ghost' is not a node of this flow")


def test_a_map_without_a_body_is_refused() -> None:
    assert _problems(_map_document(None))[0] == ("/nodes/0/config", "missing required field 'body'")


def test_an_input_schema_that_is_not_a_json_schema_is_refused() -> None:
    doc = _valid()
    doc["input_schema"] = {"type": "objekt"}
    [(pointer, message)] = _problems(doc)
    assert pointer == "/input_schema"
    assert message.startswith("not a valid JSON Schema: ")


def test_more_than_500_nodes_are_refused() -> None:
    doc = _valid()
    doc["nodes"] = [node(f"n{i}", "end") for i in range(501)]
    doc["edges"] = []
    assert _problems(doc) == [("/nodes", "501 nodes; the limit is 500")]


def test_a_document_over_one_megabyte_is_refused() -> None:
    doc = _valid()
    doc["description"] = "x" * 1_000_001
    [(pointer, message)] = _problems(doc)
    assert pointer == ""
    assert message.endswith("bytes; the limit is 1000000")
    with pytest.raises(InvalidDocument) as refused:
        document_parse(json.dumps(doc))
    assert refused.value.message == "the flow document is too large"
    assert refused.value.problems[0].pointer == ""


def test_the_wrong_schema_identifier_is_refused() -> None:
    doc = _valid()
    doc["schema"] = "controlroom.flow/v2"
    assert _problems(doc) == [("/schema", "'controlroom.flow/v1' was expected")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON: "),
        ('{"schema": NaN}', "not valid JSON: NaN is not a JSON number"),
        ("[" * 50_000 + "]" * 50_000, "not valid JSON: nested too deeply"),
        ("[1, 2]", "the document must be an object"),
        ('"text"', "the document must be an object"),
        ("", "not valid JSON: "),
        (b"\xff\xfe\x00", "not valid JSON: "),
    ],
    ids=["garbage", "nan", "deep", "array", "string", "empty", "bad-bytes"],
)
def test_input_that_is_not_a_json_object_is_refused(raw: str | bytes, message: str) -> None:
    with pytest.raises(InvalidDocument) as refused:
        document_parse(raw)
    [problem] = refused.value.problems
    assert problem.pointer == ""
    assert problem.message.startswith(message)


def test_nul_characters_are_refused_with_a_pointer() -> None:
    doc = _valid()
    doc["nodes"][0]["config"]["prompt"] = "a\x00b"
    with pytest.raises(InvalidDocument) as refused:
        document_parse(json.dumps(doc))
    assert refused.value.problems == [
        Problem("/nodes/0/config/prompt", "text cannot contain NUL characters")
    ]


def test_yaml_is_accepted_when_the_content_type_says_so() -> None:
    doc = _valid()
    assert document_parse(yaml.safe_dump(doc), content_type="application/yaml") == doc
    assert document_parse(yaml.safe_dump(doc), content_type="application/x-yaml") == doc
    with pytest.raises(InvalidDocument):
        document_parse(yaml.safe_dump(doc), content_type="application/json")


def test_yaml_dates_stay_the_text_they_were_written_as() -> None:
    parsed = document_parse("description: 2024-05-01\nname: x\n", content_type="application/yaml")
    assert parsed == {"description": "2024-05-01", "name": "x"}


@pytest.mark.parametrize(
    ("text", "pointer", "message"),
    [
        ("name: !!binary aGVsbG8=\n", "/name", "a bytes is not a JSON value"),
        ("nodes: !!set {a: null}\n", "/nodes", "a set is not a JSON value"),
        ("edges: {1: a}\n", "/edges", "key 1 is not a string"),
        ("name: .nan\n", "/name", "nan is not a JSON number"),
        ("a: &a [*a]\n", "", "not valid YAML: the alias *a is inside the value it names (a cycle)"),
    ],
    ids=["bytes", "set", "int-key", "nan", "cyclic-alias"],
)
def test_yaml_that_is_not_json_data_is_refused(text: str, pointer: str, message: str) -> None:
    with pytest.raises(InvalidDocument) as refused:
        document_parse(text, content_type="application/yaml")
    assert refused.value.problems == [Problem(pointer, message)]


def test_a_yaml_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(InvalidDocument) as refused:
        document_parse("\n".join(lines), content_type="application/yaml")
    [problem] = refused.value.problems
    assert problem.pointer == ""
    assert problem.message.startswith("the document has more than ")


def test_python_objects_in_yaml_are_refused() -> None:
    with pytest.raises(InvalidDocument) as refused:
        document_parse("a: !!python/object/apply:os.system [true]", content_type="text/yaml")
    assert refused.value.problems[0].message.startswith("not valid YAML: ")


# --- import and export through the API ----------------------------------------------------------


@pytest.fixture
def designer_client(db: None) -> Client:
    designer = user_ensure(username="designer", role=Role.DESIGNER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=designer)}")


@pytest.mark.parametrize("name", sorted(d["slug"] for d in demo_documents()))
def test_a_json_import_exports_equal_as_data(designer_client: Client, name: str) -> None:
    demo = next(d for d in demo_documents() if d["slug"] == name)
    original = copy.deepcopy(demo)
    saved = designer_client.post("/api/flows", json.dumps(demo), content_type="application/json")
    assert saved.status_code == 201, saved.json()
    exported = designer_client.get(f"/api/flows/{name}/export")
    assert exported.status_code == 200
    assert exported.json() == original
    as_yaml = designer_client.get(f"/api/flows/{name}/export?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.content) == original


def test_a_yaml_import_exports_equal_as_data(designer_client: Client) -> None:
    doc = _valid()
    doc["description"] = "Ünïcode, quotes \" and 'apostrophes', a date-like 2024-05-01"
    saved = designer_client.post("/api/flows", yaml.safe_dump(doc), content_type="application/yaml")
    assert saved.status_code == 201, saved.json()
    assert saved.json()["version"] == 1
    exported = designer_client.get(f"/api/flows/{doc['slug']}/export?format=yaml")
    assert yaml.safe_load(exported.content) == doc
    assert designer_client.get(f"/api/flows/{doc['slug']}/export").json() == doc


def test_an_export_of_a_named_version_gives_that_version(designer_client: Client) -> None:
    doc = _valid()
    designer_client.post("/api/flows", json.dumps(doc), content_type="application/json")
    changed = copy.deepcopy(doc)
    changed["name"] = "Renamed"
    designer_client.post("/api/flows", json.dumps(changed), content_type="application/json")
    assert designer_client.get("/api/flows/doc-test/export?version=1").json() == doc
    assert designer_client.get("/api/flows/doc-test/export?version=2").json() == changed
    assert designer_client.get("/api/flows/doc-test/export").json() == changed
