"""The ``check_patch`` built-in: a unified diff read for files, line counts and problems,
without applying or running anything."""

from __future__ import annotations

from typing import Any

import pytest

from agents import tools
from agents.patches import MAX_DIFF_CHARS, MAX_PROBLEMS, patch_check

SP = " "  # a trailing space, spelled out so editors keep it


def check(diff: str) -> dict[str, Any]:
    result: dict[str, Any] = tools.tool_call(
        name="check_patch", args={"diff": diff}, idempotency_key="run:check:", subject=""
    )
    return result


def kinds(result: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(p["kind"], p["path"], p["line"]) for p in result["problems"]]


CLEAN = f"""\
diff --git a/billing/invoice.py b/billing/invoice.py
index 3b18e51..a9c2f4d 100644
--- a/billing/invoice.py
+++ b/billing/invoice.py
@@ -10,6 +10,7 @@ def total(lines):
     subtotal = sum(line.amount for line in lines)
-    tax = subtotal * 0.2
+    rate = Decimal("0.20")
+    tax = (subtotal * rate).quantize(Decimal("0.01"))
     return subtotal + tax


 def due_date(issued):
diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1,2 +1,2 @@
 # Billing
-Totals are rounded.
+Totals are rounded to the cent.{SP}{SP}
"""


def test_a_clean_diff_reports_its_files_and_counts_and_is_ok() -> None:
    result = check(CLEAN)
    assert result["problems"] == [] and result["ok"] is True
    assert result["files_changed"] == 2
    assert (result["lines_added"], result["lines_removed"]) == (3, 2)
    assert result["files"][0] == {
        "path": "billing/invoice.py",
        "status": "modified",
        "added": 2,
        "removed": 1,
        "binary": False,
    }
    # Two trailing spaces are a Markdown line break, not a problem.
    assert result["files"][1]["path"] == "README.md"


def test_the_tool_is_a_read_without_side_effects() -> None:
    tool = tools.tool_get("check_patch")
    assert tool.category == "read" and tool.side_effect is False
    assert tool.args_schema["required"] == ["diff"]


@pytest.mark.parametrize(
    "text",
    ["this is not a diff\njust prose\n", "@@ -1 +1 @@\n-a\n+b\n"],
    ids=["prose", "hunk-without-file"],
)
def test_text_that_is_not_a_diff_is_malformed(text: str) -> None:
    result = check(text)
    assert result["ok"] is False
    assert [p["kind"] for p in result["problems"]] == ["malformed"]
    assert result["files_changed"] == 0


def test_a_hunk_shorter_than_its_header_says_is_malformed() -> None:
    result = check("--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n-a = 1\n+a = 2\n")
    assert kinds(result) == [("malformed", "", None)]
    assert "Hunk is shorter than expected" in result["problems"][0]["message"]


def test_conflict_markers_and_trailing_whitespace_in_added_lines() -> None:
    diff = f"""\
--- a/app/settings.ini
+++ b/app/settings.ini
@@ -1,1 +1,6 @@
 [server]
+<<<<<<< HEAD
+port = 8080{SP}
+=======
+port = 9090
+>>>>>>> feature/port
"""
    result = check(diff)
    assert result["ok"] is False
    assert kinds(result) == [
        ("conflict_marker", "app/settings.ini", 2),
        ("trailing_whitespace", "app/settings.ini", 3),
        ("conflict_marker", "app/settings.ini", 4),
        ("conflict_marker", "app/settings.ini", 6),
    ]


def test_removed_or_context_lines_are_not_blamed() -> None:
    diff = f"""\
--- a/notes.txt
+++ b/notes.txt
@@ -1,3 +1,2 @@
 kept line with trailing space{SP}
-<<<<<<< HEAD
 end
"""
    result = check(diff)
    assert result["ok"] is True, result["problems"]
    assert (result["lines_added"], result["lines_removed"]) == (0, 1)


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ('AWS_KEY = "AKIAIOSFODNN7EXAMPLE"', "AWS access key"),
        ("token: ghp_" + "a1B2" * 9, "GitHub token"),
        ('client = OpenAI(api_key="sk-proj-' + "x" * 24 + '")', "sk-"),
        ('DB_PASSWORD = "correct-horse-battery"', "credential assigned as a literal"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
    ],
)
def test_an_added_line_that_looks_like_a_secret_is_reported_without_its_value(
    line: str, label: str
) -> None:
    diff = f"--- a/config.py\n+++ b/config.py\n@@ -1 +1,2 @@\n import os\n+{line}\n"
    result = check(diff)
    secrets = [p for p in result["problems"] if p["kind"] == "secret"]
    assert len(secrets) == 1 and secrets[0]["line"] == 2
    assert label in secrets[0]["message"]
    assert line not in str(result)


def test_a_key_read_from_the_environment_is_not_a_secret() -> None:
    diff = (
        "--- a/config.py\n+++ b/config.py\n@@ -1 +1,2 @@\n import os\n"
        '+api_key = os.environ["OPENAI_API_KEY"]\n'
    )
    assert check(diff)["ok"] is True


def test_a_new_python_file_that_does_not_compile() -> None:
    diff = """\
diff --git a/jobs/retry.py b/jobs/retry.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/jobs/retry.py
@@ -0,0 +1,3 @@
+def backoff(attempt):
+    return min(60, 2 ** attempt
+
"""
    result = check(diff)
    assert result["files"][0]["status"] == "added"
    [problem] = result["problems"]
    assert problem["kind"] == "python_syntax" and problem["path"] == "jobs/retry.py"
    assert problem["line"] == 2
    assert "does not compile" in problem["message"]


def test_a_hunk_that_breaks_python_is_reported_at_its_line() -> None:
    diff = """\
--- a/billing/invoice.py
+++ b/billing/invoice.py
@@ -20,4 +20,4 @@ def total(lines):
     subtotal = sum(line.amount for line in lines)
-    if subtotal > 0:
+    if subtotal > 0
         return subtotal
     return 0
"""
    [problem] = check(diff)["problems"]
    assert (problem["kind"], problem["line"]) == ("python_syntax", 21)


def test_fragments_needing_their_function_or_loop_compile() -> None:
    diff = """\
--- a/worker.py
+++ b/worker.py
@@ -40,3 +40,5 @@ async def drain(queue):
         item = await queue.get()
+        if item is None:
+            break
         yield item
     return
"""
    assert check(diff)["ok"] is True


def test_a_hunk_that_cannot_stand_alone_is_not_blamed_on_the_change() -> None:
    # Starts inside a call's arguments: neither side compiles on its own.
    diff = """\
--- a/api.py
+++ b/api.py
@@ -8,3 +8,3 @@ def create(request):
         name=request.name,
-        email=request.email,
+        email=request.email.lower(),
     )
"""
    assert check(diff)["ok"] is True


def test_python_in_a_deleted_file_is_not_compiled() -> None:
    diff = """\
diff --git a/old.py b/old.py
deleted file mode 100644
--- a/old.py
+++ /dev/null
@@ -1,2 +0,0 @@
-def broken(:
-    pass
"""
    result = check(diff)
    assert result["ok"] is True
    assert result["files"][0]["status"] == "removed"


def test_problems_are_capped_and_the_report_says_so() -> None:
    added = "".join("+x = 1 \n" for _ in range(MAX_PROBLEMS + 5))
    diff = f"--- a/a.txt\n+++ b/a.txt\n@@ -0,0 +1,{MAX_PROBLEMS + 5} @@\n{added}"
    report = patch_check(diff=diff)
    assert len(report.problems) == MAX_PROBLEMS and report.truncated


def test_the_schema_refuses_an_empty_or_oversized_diff() -> None:
    with pytest.raises(tools.ToolError, match="diff"):
        check("")
    with pytest.raises(tools.ToolError, match="diff"):
        check("x" * (MAX_DIFF_CHARS + 1))
