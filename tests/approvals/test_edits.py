"""What an approver changed: edit distance, the displayed diff, tool-call forms."""

from __future__ import annotations

from django.http import QueryDict

from flows.approvals import edits


def test_edit_distance_counts_the_characters_changed() -> None:
    assert edits.edit_distance("Hi Ada", "Hi Ada") == 0
    assert edits.edit_distance("Hi Ada", "Hello Ada") == 4
    assert edits.edit_distance("kitten", "sitting") == 3  # the classic Levenshtein example
    assert edits.edit_distance({"a": 1}, {"a": 2}) == 1  # JSON compared as its text
    assert edits.edit_distance("", "abc") == 3


def test_the_diff_shows_removed_and_added_lines_with_context() -> None:
    before = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten"
    after = before.replace("two", "TWO").replace("nine", "NINE")
    lines = edits.diff_lines(before, after, context=1)
    assert [(line.kind, line.text) for line in lines] == [
        ("same", "one"),
        ("removed", "two"),
        ("added", "TWO"),
        ("same", "three"),
        ("gap", "…"),
        ("same", "eight"),
        ("removed", "nine"),
        ("added", "NINE"),
        ("same", "ten"),
    ]
    assert edits.unified_diff("a", "b").splitlines()[2:] == ["@@ -1 +1 @@", "-a", "+b"]


def test_a_tool_call_form_follows_the_tools_schema_and_reads_back() -> None:
    draft = {
        "tool": "send_email",
        "arguments": {"to": "ada@example.test", "subject": "Hi", "body": "Hello\nthere"},
    }
    fields = edits.argument_fields(draft)
    assert fields is not None
    kinds = {field.name: (field.kind, field.required) for field in fields}
    assert kinds["to"] == ("text", True)
    assert kinds["body"][0] == "textarea"  # multi-line text gets a text area
    form = QueryDict(mutable=True)
    form.update({"arg:to": "grace@example.test", "arg:subject": "Hi", "arg:body": "Hi\r\nthere"})
    assert edits.arguments_from_form(draft, fields, form) == {
        "to": "grace@example.test",
        "subject": "Hi",
        "body": "Hi\nthere",
    }


def test_an_unknown_tool_has_no_form() -> None:
    assert edits.argument_fields({"tool": "no-such-tool", "arguments": {"x": 1}}) is None
    assert edits.is_tool_call({"tool": "x", "arguments": {}})
    assert not edits.is_tool_call({"tool": "x"})


def test_edit_distance_is_levenshtein_on_long_drafts() -> None:
    draft = "lorem ipsum dolor sit amet " * 300  # ~8k characters
    edited = draft.replace("dolor", "dolour", 3) + "P.S. thanks"
    assert edits.edit_distance(draft, edited) == 3 + len("P.S. thanks")
    assert edits.edit_distance(edited, draft) == 3 + len("P.S. thanks")  # symmetric
