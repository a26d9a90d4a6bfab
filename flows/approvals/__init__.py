"""Approvals: the human decisions that resume parked runs, and the inbox around them.

Modules: ``models`` (the approval rows: approvals, earned autonomy, notices, review time),
``access`` (who may decide), ``decisions`` (decide, send back, reassign, open, bulk), ``edits``
(diffs, edit distance, tool-call forms), ``deadlines`` (reminders, escalation, auto-decisions),
``notices`` (e-mail and chat webhook), ``autonomy`` (earned autonomy), ``review`` (review time),
``selectors`` (reads for the inbox, the API and the rollups), ``pages`` (the inbox's template
contexts), ``views`` and ``urls`` (the inbox), ``live`` (its live subscriptions), ``schemas``
and ``api`` (the JSON operations). Templates are in ``templates/approvals/``.

Nothing is imported here: ``flows.models`` imports ``flows.approvals.models``, and
``decisions`` imports the engine, which imports ``flows.models``.
"""
