from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows and runs"

    def ready(self) -> None:
        from flows import engine_metrics, live
        from flows.approvals import live as approvals_live
        from flows.guardrails.replay import replay_register

        live.register_topics()
        approvals_live.register_topics()
        engine_metrics.register()
        replay_register()  # the policy simulator replays runs recorded here
        _engine_hooks_register()


def _engine_hooks_register() -> None:
    """Fill in the hooks through which the engine calls outward (``flows.engine.hooks``), and
    the approval notices' queue: the modules named here import the engine, never the reverse."""
    from flows import tasks, traces
    from flows.approvals import autonomy, deadlines, notices
    from flows.engine import hooks
    from flows.killswitch import pause
    from flows.triggers import events

    hooks.register(
        run_created=pause.run_created,
        run_hold=pause.hold,
        claim_refused=pause.claim_refused,
        step_publish=tasks.enqueue_after_commit,
        run_cancel_later=tasks.run_cancel_later,
        approval_sampling=autonomy.approval_sampling,
        approvals_due=deadlines.approvals_due_fire,
        events_catch_up=events.catch_up,
    )
    # In this order: the run's trace span, then the runs its end starts.
    hooks.register(run_finished=traces.run_trace_end)
    traces.run_lineage_register()
    hooks.register(run_finished=events.run_finished_after_commit)
    notices.notice_queue_register(tasks.approval_notice_send_later)
