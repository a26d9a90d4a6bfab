"""PII detection with checksums, redaction with shared placeholders, restoration."""

from __future__ import annotations

from agents.policies import pii_find, pii_redact, pii_restore
from agents.policies.pii import iban_valid, luhn_valid


def test_luhn_and_mod97_checks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("DE88 3704 0044 0532 0130 00")


def test_only_numbers_that_pass_their_check_are_cards_or_ibans() -> None:
    text = "card 4111 1111 1111 1111, not 4111 1111 1111 1112; iban DE89370400440532013000"
    labels = [label for _, _, label in pii_find(text, {"detect": ["card", "iban"]})]
    assert labels == ["CARD", "IBAN"]


def test_redaction_numbers_each_value_once_across_texts_and_restores() -> None:
    texts = [
        "Write to ann@example.com or call +49 30 1234567.",
        "Again: ann@example.com, and bob@example.org. Order TCK-1234.",
    ]
    config = {"patterns": [{"name": "ticket", "regex": r"TCK-\d+"}]}
    redacted, values = pii_redact(texts, config)
    assert redacted == [
        "Write to [EMAIL_1] or call [PHONE_1].",
        "Again: [EMAIL_1], and [EMAIL_2]. Order [TICKET_1].",
    ]
    assert values["[EMAIL_2]"] == "bob@example.org"
    answer = {"reply": "Sent to [EMAIL_1] about [TICKET_1]", "list": ["[PHONE_1]"]}
    assert pii_restore(answer, values) == {
        "reply": "Sent to ann@example.com about TCK-1234",
        "list": ["+49 30 1234567"],
    }


def test_plain_numbers_and_dates_are_not_phone_numbers() -> None:
    assert pii_find("order 42 on 2026-01-10, total 1234567", {"detect": ["phone"]}) == []
    assert [label for *_, label in pii_find("call (030) 1234567", {"detect": ["phone"]})] == [
        "PHONE"
    ]


def test_a_user_pattern_that_runs_out_of_time_redacts_the_whole_text() -> None:
    text = "a" * 60 + "! mail me at ada@example.com"
    config = {"detect": ["email"], "patterns": [{"name": "slow", "regex": r"(a|aa)+$"}]}
    (redacted,), values = pii_redact([text], config)
    assert redacted == "[SLOW_1]" and values == {"[SLOW_1]": text}
