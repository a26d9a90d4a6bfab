"""Checking a proposed change: a unified diff, parsed with ``unidiff``, read for what a reviewer
would refuse before anything is applied.

Pure and read-only: nothing is applied, run or written. Added Python is ``compile()``d (parsed
and compiled to a code object that is thrown away, never executed).

What is a problem (each reported with the file and the new file's line number where there is
one):

- ``malformed``: the text is not a unified diff (``unidiff`` refuses it, or it holds no file);
- ``conflict_marker``: an added line is a merge-conflict marker (``<<<<<<<``, ``=======``,
  ``>>>>>>>``);
- ``trailing_whitespace``: an added line ends in spaces or tabs (Markdown files excepted, where
  two trailing spaces are a line break);
- ``secret``: an added line looks like a credential (a provider's key shape, a private key
  block, or a literal assigned to a name like ``api_key``/``password``); the value itself is
  never repeated in the report;
- ``python_syntax``: added Python does not compile. A new ``.py`` file is compiled whole. A hunk
  of a modified file is compiled as a fragment (dedented, inside an ``async def`` and a loop so
  ``return``, ``await`` and ``break`` stand); it is reported only when the same hunk's old text
  compiled that way, so a fragment that cannot stand alone is not blamed on the change.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from unidiff.errors import UnidiffParseError
from unidiff.patch import Hunk, PatchedFile, PatchSet

MAX_DIFF_CHARS = 500_000
#: Problems reported at most; ``truncated`` says when more were found.
MAX_PROBLEMS = 100
PYTHON_SUFFIXES = (".py", ".pyw")
WHITESPACE_EXEMPT_SUFFIXES = (".md", ".markdown")

CONFLICT_MARKER = re.compile(r"^(?:<{7}(?:\s|$)|={7}\s*$|>{7}(?:\s|$))")
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}")),
    ("an API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
    (
        "a credential assigned as a literal",
        re.compile(
            r"(?i)\b[\w.-]*(?:api[_-]?key|secret|token|passw(?:or)?d)[\w.-]*[\"']?\s*[:=]\s*"
            r"[\"'][^\"'\s]{12,}[\"']"
        ),
    ),
)
# A fragment of a modified file compiles inside this, indented, so that statements which need
# an enclosing function or loop (return, yield, await, break, continue) are not false alarms.
_WRAPPER = "async def _fragment():\n    while True:\n"
_WRAPPER_LINES = 2
_INDENT = " " * 8


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | removed | renamed | modified
    added: int
    removed: int
    binary: bool = False


@dataclass(frozen=True)
class PatchProblem:
    kind: str
    path: str
    line: int | None
    message: str


@dataclass
class PatchReport:
    files: list[FileChange] = field(default_factory=list)
    problems: list[PatchProblem] = field(default_factory=list)
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: PatchProblem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.truncated = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files_changed": len(self.files),
            "lines_added": sum(f.added for f in self.files),
            "lines_removed": sum(f.removed for f in self.files),
            "files": [asdict(f) for f in self.files],
            "problems": [asdict(p) for p in self.problems],
            "truncated": self.truncated,
        }


def patch_check(*, diff: str) -> PatchReport:
    """Parse ``diff`` (a unified diff, git's or plain) and report its files, line counts and
    problems. Never raises for bad input: a diff that cannot be parsed is a ``malformed``
    problem in the report. Longer than ``MAX_DIFF_CHARS`` is malformed too (callers with a
    schema refuse it before)."""
    report = PatchReport()
    if len(diff) > MAX_DIFF_CHARS:
        report.add(
            PatchProblem("malformed", "", None, f"the diff is longer than {MAX_DIFF_CHARS} chars")
        )
        return report
    try:
        patch = PatchSet(diff)
    except UnidiffParseError as exc:
        report.add(PatchProblem("malformed", "", None, f"not a valid unified diff: {exc}"))
        return report
    if not patch:
        report.add(
            PatchProblem(
                "malformed",
                "",
                None,
                "no file changes found: expected '--- a/...' and "
                "'+++ b/...' headers followed by '@@' hunks",
            )
        )
        return report
    for patched in patch:
        report.files.append(_file_change(patched))
        _line_problems(patched, report)
        if patched.path.endswith(PYTHON_SUFFIXES) and not patched.is_removed_file:
            _python_problems(patched, report)
    return report


def _file_change(patched: PatchedFile) -> FileChange:
    if patched.is_added_file:
        status = "added"
    elif patched.is_removed_file:
        status = "removed"
    elif patched.is_rename:
        status = "renamed"
    else:
        status = "modified"
    return FileChange(
        path=patched.path,
        status=status,
        added=patched.added,
        removed=patched.removed,
        binary=bool(patched.is_binary_file),
    )


def _line_problems(patched: PatchedFile, report: PatchReport) -> None:
    whitespace_matters = not patched.path.lower().endswith(WHITESPACE_EXEMPT_SUFFIXES)
    for hunk in patched:
        for line in hunk:
            if not line.is_added:
                continue
            text = line.value.rstrip("\r\n")
            where = (patched.path, line.target_line_no)
            if CONFLICT_MARKER.match(text):
                report.add(PatchProblem("conflict_marker", *where, "merge-conflict marker"))
            if whitespace_matters and text != text.rstrip(" \t"):
                report.add(PatchProblem("trailing_whitespace", *where, "trailing whitespace"))
            for label, pattern in SECRET_SHAPES:
                if pattern.search(text):
                    report.add(PatchProblem("secret", *where, f"looks like {label}"))
                    break


def _python_problems(patched: PatchedFile, report: PatchReport) -> None:
    if patched.is_added_file:
        lines = [line for hunk in patched for line in hunk.target_lines()]
        source = "".join(line.value for line in lines)
        error = _compile_error(source, patched.path)
        if error is not None:
            lineno, message = error
            report.add(PatchProblem("python_syntax", patched.path, lineno, message))
        return
    for hunk in patched:
        if not hunk.added:
            continue
        error = _fragment_error(hunk, "target", patched.path)
        if error is None or _fragment_error(hunk, "source", patched.path) is not None:
            continue
        offset, message = error
        targets = [line.target_line_no for line in hunk.target_lines()]
        line_no = targets[offset - 1] if 0 < offset <= len(targets) else hunk.target_start
        report.add(PatchProblem("python_syntax", patched.path, line_no, message))


def _fragment_error(hunk: Hunk, side: str, path: str) -> tuple[int, str] | None:
    """Compile one side of ``hunk`` as a wrapped fragment; the error's line is counted within
    the fragment (1 = the hunk's first line on that side)."""
    lines = hunk.target_lines() if side == "target" else hunk.source_lines()
    text = textwrap.dedent("".join(line.value for line in lines))
    if text and not text.endswith("\n"):
        text += "\n"
    wrapped = _WRAPPER + textwrap.indent(text, _INDENT, lambda _: True) + f"{_INDENT}pass\n"
    error = _compile_error(wrapped, path)
    if error is None:
        return None
    lineno, message = error
    return (lineno or 0) - _WRAPPER_LINES, message


def _compile_error(source: str, path: str) -> tuple[int | None, str] | None:
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc.lineno, f"added Python does not compile: {exc.msg}"
    except ValueError as exc:  # e.g. a NUL byte in the source
        return None, f"added Python does not compile: {exc}"
    return None
