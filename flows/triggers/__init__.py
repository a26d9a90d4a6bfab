"""Triggers — what starts a run — and outcomes, the feedback reported about a run's subject.

Modules: ``models`` (triggers, webhook secrets and receipts, outcomes), ``config`` (the
document's ``trigger`` block and schedule previews), ``cron_text`` (a cron expression in words),
``schedules`` (due times and firing them), ``webhooks`` and ``signing`` (inbound webhooks and
their signatures), ``forms`` (the public form and the manual start's fields), ``events`` (runs
started by another flow's run or an outcome), ``dispatch`` (batched hand-off of accepted runs),
``live`` (a trigger starts the live version only), ``outcomes`` (recording and reading
outcomes), ``selectors`` (a flow's trigger as the API shows it), ``api`` (the JSON operations
and the webhook endpoints), ``views`` and ``urls`` (the public form, the manual start).
Templates are in ``templates/triggers/``.

Nothing is imported here: ``flows.models`` imports ``flows.triggers.models``.
"""
