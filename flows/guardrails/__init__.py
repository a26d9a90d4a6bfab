"""Guardrails in the orchestrator: gathering facts for ``agents.policies``, acting on the
verdicts (park, block, redact, reserve), and recording every verdict per step.

Modules: ``sources`` (which policies apply), ``gather`` (counts and spend under advisory
locks), ``guard`` (``StepGuard``, the runtime's guard), ``redaction`` (PII out and back),
``record`` (verdict rows and audit), ``gates`` (the engine's entry points), ``selectors``.
"""
