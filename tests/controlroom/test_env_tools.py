"""controlroom.env for the tools: the egress allowlist and limits, the MCP time limit and the
working hours are typed, defaulted, and fail loudly on a bad value."""

from __future__ import annotations

import ipaddress
from datetime import time

import pytest

from controlroom import env
from controlroom.env import EgressAllow, EnvError, egress_allow_parse


def test_allowlist_entries_parse_into_hosts_addresses_and_networks() -> None:
    entries = egress_allow_parse(
        " crm.internal:8443 , Localhost, 127.0.0.1:8080, 10.0.0.0/8, [::1]:9000, fd00::/8 "
    )
    assert entries == (
        EgressAllow(host="crm.internal", port=8443),
        EgressAllow(host="localhost"),
        EgressAllow(network=ipaddress.ip_network("127.0.0.1/32"), port=8080),
        EgressAllow(network=ipaddress.ip_network("10.0.0.0/8")),
        EgressAllow(network=ipaddress.ip_network("::1/128"), port=9000),
        EgressAllow(network=ipaddress.ip_network("fd00::/8")),
    )
    assert egress_allow_parse("") == ()


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.1/8", "host:0", "host:70000", "host:http", "bad host", "2130706433", "[::1]x", "a/b"],
)
def test_a_bad_allowlist_entry_fails_loudly_naming_it(bad: str) -> None:
    with pytest.raises(EnvError, match="CONTROLROOM_EGRESS_ALLOW entry"):
        egress_allow_parse(bad)


def test_tool_settings_have_sane_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CONTROLROOM_EGRESS_ALLOW",
        "CONTROLROOM_EGRESS_MAX_BYTES",
        "CONTROLROOM_MCP_TIMEOUT_SECONDS",
        "CONTROLROOM_WORKING_TIME_ZONE",
        "CONTROLROOM_WORKING_DAYS",
        "CONTROLROOM_WORKING_HOURS",
        "CONTROLROOM_SLOT_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    loaded = env.load()
    assert loaded.egress.allow == ()
    assert loaded.egress.max_bytes == 2_000_000
    assert loaded.mcp_timeout_seconds == 30.0
    hours = loaded.working_hours
    assert (hours.time_zone, hours.weekdays, hours.slot_minutes) == ("UTC", (0, 1, 2, 3, 4), 30)
    assert (hours.start, hours.end) == (time(9), time(17))


def test_working_hours_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTROLROOM_WORKING_TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("CONTROLROOM_WORKING_DAYS", "mon-wed,fri")
    monkeypatch.setenv("CONTROLROOM_WORKING_HOURS", "08:30-12:00")
    monkeypatch.setenv("CONTROLROOM_SLOT_MINUTES", "45")
    hours = env.load().working_hours
    assert hours.time_zone == "Europe/Berlin"
    assert hours.weekdays == (0, 1, 2, 4)
    assert (hours.start, hours.end, hours.slot_minutes) == (time(8, 30), time(12), 45)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONTROLROOM_WORKING_TIME_ZONE", "Mars/Olympus"),
        ("CONTROLROOM_WORKING_DAYS", "mon-funday"),
        ("CONTROLROOM_WORKING_DAYS", "fri-mon"),
        ("CONTROLROOM_WORKING_HOURS", "17:00-09:00"),
        ("CONTROLROOM_WORKING_HOURS", "nine to five"),
        ("CONTROLROOM_SLOT_MINUTES", "1"),
        ("CONTROLROOM_EGRESS_MAX_BYTES", "lots"),
        ("CONTROLROOM_EGRESS_TOTAL_TIMEOUT_SECONDS", "0"),
        ("CONTROLROOM_EGRESS_ALLOW", "10.0.0.1/8"),
        ("CONTROLROOM_MCP_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_a_bad_tool_setting_fails_at_load(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(EnvError, match=name):
        env.load()
