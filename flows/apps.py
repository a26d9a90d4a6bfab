from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows and runs"

    def ready(self) -> None:
        from flows import live, metrics
        from flows.guardrails.replay import replay_register

        live.register_topics()
        metrics.register()
        replay_register()  # the policy simulator replays runs recorded here
