"""agents.egress: what an agent-chosen URL may reach, checked before anything connects.

Real HTTP(S) servers on loopback stand in for internal services; each counts the TCP
connections it accepts, and ``socket.create_connection`` is watched, so "refused" means
"refused before connecting", not "failed after".
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_django.fixtures import Settings

from agents import egress
from agents.egress import (
    EgressError,
    EgressRefused,
    EgressTimeout,
    EgressTooLarge,
    address_refusal,
    egress_request,
    target_parse,
)
from controlroom.env import EgressEnv
from tests.support.loopback_http import LoopbackHTTP, Reply, egress_configure

Resolver = Callable[..., Any]


@pytest.fixture
def server() -> Iterator[LoopbackHTTP]:
    with LoopbackHTTP() as running:
        yield running


@pytest.fixture
def other() -> Iterator[LoopbackHTTP]:
    with LoopbackHTTP() as running:
        yield running


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every address the process opened a TCP connection to (httpcore uses this function)."""
    opened: list[tuple[Any, ...]] = []
    real = socket.create_connection

    def watched(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", watched)
    return opened


@pytest.fixture
def allow(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``allow("127.0.0.1:8080", **limits)``: CONTROLROOM_EGRESS_ALLOW for this test."""
    egress_configure(settings, monkeypatch)
    return lambda entries="", **limits: egress_configure(settings, monkeypatch, entries, **limits)


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, list[str]], list[str]]:
    """``resolve(name, [answers...])``: DNS for ``name`` answers the next address each time
    (the last one from then on); returns the list of names looked up, for counting."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)

    def configure(name: str, addresses: list[str]) -> list[str]:
        answers[name] = list(addresses)
        return asked

    return configure


def get(url: str, **kwargs: Any) -> egress.EgressResponse:
    return egress_request(method="GET", url=url, **kwargs)


# --- Refused before connecting ----------------------------------------------------------------

REFUSED_FORMS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://017700000001:{port}/",
    "http://127.1:{port}/",
    "http://127.0.0.01:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://[fe80::1%25eth0]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
    "http://user@127.0.0.1:{port}/",
    "http://example.com@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}@example.com/",
    "http://127.0.0.1:{port}\\@example.com/",
    "http://127.0.0.1:{port}/ path",
    "file:///etc/passwd",
    "ftp://127.0.0.1:{port}/",
    "gopher://127.0.0.1:{port}/_",
    "dict://127.0.0.1:{port}/",
    "//127.0.0.1:{port}/",
    "http://10.0.0.1:{port}/",
    "http://172.16.5.4:{port}/",
    "http://192.168.1.1:{port}/",
    "http://100.64.0.1:{port}/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.10.10:{port}/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fc00::1]:{port}/",
    "http://[fe80::1]:{port}/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1:{port}/",
    "http://[ff02::1]:{port}/",
    "http://240.0.0.1:{port}/",
    "http://255.255.255.255:{port}/",
    "http://192.0.2.10:{port}/",
]


@pytest.mark.parametrize("form", REFUSED_FORMS)
def test_every_forbidden_form_is_refused_before_connecting(
    form: str, server: LoopbackHTTP, connects: list[Any], allow: Callable[..., None]
) -> None:
    with pytest.raises(EgressRefused):
        get(form.format(port=server.port))
    assert connects == []
    assert server.connections == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_side_effecting_methods_are_refused_the_same_way(
    method: str, server: LoopbackHTTP, connects: list[Any], allow: Callable[..., None]
) -> None:
    with pytest.raises(EgressRefused, match="loopback"):
        egress_request(method=method, url=server.url("/"), content=b"{}")
    assert connects == [] and server.connections == 0


def test_a_name_resolving_to_loopback_is_refused(
    server: LoopbackHTTP,
    connects: list[Any],
    allow: Callable[..., None],
    resolve: Callable[[str, list[str]], list[str]],
) -> None:
    resolve("innocent.example.test", ["127.0.0.1"])
    with pytest.raises(EgressRefused, match=r"innocent\.example\.test \(127\.0\.0\.1\).*loopback"):
        get(f"http://innocent.example.test:{server.port}/")
    assert connects == [] and server.connections == 0


def test_one_private_answer_among_public_ones_refuses_the_name(
    server: LoopbackHTTP,
    connects: list[Any],
    allow: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def two_answers(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    with pytest.raises(EgressRefused, match="loopback"):
        get(f"http://mixed.example.test:{server.port}/")
    assert connects == [] and server.connections == 0


def test_a_redirect_to_loopback_is_refused_before_following_it(
    server: LoopbackHTTP, other: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}")
    for location in (
        other.url("/secret"),
        f"http://localhost:{other.port}/secret",
        f"http://2130706433:{other.port}/secret",
        f"http://[::ffff:127.0.0.1]:{other.port}/secret",
        "http://169.254.169.254/latest/meta-data/",
    ):
        server.route("/hop", Reply(status=302, headers={"Location": location}))
        with pytest.raises(EgressRefused):
            get(server.url("/hop"))
    assert len(server.received("/hop")) == 5
    assert other.connections == 0


def test_a_relative_redirect_is_vetted_against_the_same_target(
    server: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}")
    server.route("/hop", Reply(status=301, headers={"Location": "/landing?x=1"}))
    response = get(server.url("/hop"))
    assert response.status == 200
    assert response.redirects == 1
    assert response.url == server.url("/landing?x=1")


# --- The allowlist ---------------------------------------------------------------------------


def test_the_allowlist_opens_exactly_the_address_and_port_it_names(
    server: LoopbackHTTP, other: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}")
    assert get(server.url("/ok")).status == 200
    with pytest.raises(EgressRefused):
        get(other.url("/ok"))
    with pytest.raises(EgressRefused):
        get(f"http://127.0.0.2:{server.port}/ok")
    assert other.connections == 0


def test_a_cidr_entry_opens_every_port_in_the_network(
    server: LoopbackHTTP, other: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow("127.0.0.0/8")
    assert get(server.url("/")).status == 200
    assert get(other.url("/")).status == 200
    with pytest.raises(EgressRefused):
        get("http://10.1.2.3/")


def test_a_host_entry_opens_that_name_whatever_it_resolves_to(
    server: LoopbackHTTP, allow: Callable[..., None], resolve: Callable[..., list[str]]
) -> None:
    resolve("crm.internal.test", ["127.0.0.1"])
    allow(f"crm.internal.test:{server.port}")
    response = get(f"http://crm.internal.test:{server.port}/ok")
    assert response.status == 200
    [request] = server.received("/ok")
    assert request.headers["host"] == f"crm.internal.test:{server.port}"


def test_metadata_stays_closed_under_a_broad_entry(allow: Callable[..., None]) -> None:
    allow("169.254.0.0/16, fc00::/7")
    with pytest.raises(EgressRefused, match="metadata"):
        get("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(EgressRefused, match="metadata"):
        get("http://[fd00:ec2::254]/")


# --- Pinning the vetted address ----------------------------------------------------------------


def test_the_connection_goes_to_the_vetted_address_not_a_second_answer(
    server: LoopbackHTTP,
    allow: Callable[..., None],
    resolve: Callable[..., list[str]],
    connects: list[Any],
) -> None:
    asked = resolve("pinned.test", ["127.0.0.1", "10.255.255.1"])
    allow(f"pinned.test:{server.port}", connect_timeout_seconds=1.0)
    assert get(f"http://pinned.test:{server.port}/").status == 200
    assert asked == ["pinned.test"]
    assert connects == [("127.0.0.1", server.port)]


def test_dns_rebinding_to_loopback_after_the_check_reaches_nothing(
    server: LoopbackHTTP,
    allow: Callable[..., None],
    resolve: Callable[..., list[str]],
    connects: list[Any],
) -> None:
    # The first answer is public and passes; every later one says loopback.
    asked = resolve("rebind.test", ["1.1.1.1", "127.0.0.1"])
    allow("", connect_timeout_seconds=0.3, total_timeout_seconds=2.0)
    with pytest.raises(EgressError):  # nothing answers on 1.1.1.1 at this port
        get(f"http://rebind.test:{server.port}/")
    assert asked == ["rebind.test"]
    assert all(address[0] == "1.1.1.1" for address in connects)
    assert server.connections == 0


def test_https_keeps_the_name_in_sni_and_host_while_connecting_to_the_address(
    tmp_path: Path, allow: Callable[..., None], resolve: Callable[..., list[str]]
) -> None:
    server_context, client_context, names = _tls_pair(tmp_path, "secure.test")
    with LoopbackHTTP(tls=server_context) as tls_server:
        resolve("secure.test", ["127.0.0.1"])
        allow(f"secure.test:{tls_server.port}")
        response = get(f"https://secure.test:{tls_server.port}/hello", verify=client_context)
        assert response.status == 200
        assert names == ["secure.test"]
        [request] = tls_server.received("/hello")
        assert request.headers["host"] == f"secure.test:{tls_server.port}"
        # The certificate names secure.test only: another name on the same address fails.
        resolve("other.test", ["127.0.0.1"])
        allow(f"127.0.0.1:{tls_server.port}, other.test:{tls_server.port}")
        with pytest.raises(EgressError, match="certificate"):
            get(f"https://other.test:{tls_server.port}/hello", verify=client_context)


def test_https_never_redirects_down_to_http(
    tmp_path: Path, server: LoopbackHTTP, allow: Callable[..., None], resolve: Callable[..., Any]
) -> None:
    server_context, client_context, _ = _tls_pair(tmp_path, "secure.test")
    with LoopbackHTTP(tls=server_context) as tls_server:
        resolve("secure.test", ["127.0.0.1"])
        allow(f"secure.test:{tls_server.port}, 127.0.0.1:{server.port}")
        tls_server.route("/down", Reply(status=302, headers={"Location": server.url("/")}))
        with pytest.raises(EgressRefused, match="https down to http"):
            get(f"https://secure.test:{tls_server.port}/down", verify=client_context)
    assert server.connections == 0


# --- Redirect handling -------------------------------------------------------------------------


def test_redirects_are_capped(server: LoopbackHTTP, allow: Callable[..., None]) -> None:
    allow(f"127.0.0.1:{server.port}")
    server.route("/loop", Reply(status=302, headers={"Location": "/loop"}))
    with pytest.raises(EgressError, match="more than 3 redirects"):
        get(server.url("/loop"), max_redirects=3)
    assert len(server.received("/loop")) == 4


def test_307_keeps_method_and_body_and_303_turns_into_get(
    server: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}")
    server.route("/keep", Reply(status=307, headers={"Location": "/echo"}))
    server.route("/see-other", Reply(status=303, headers={"Location": "/echo"}))
    kept = egress_request(method="POST", url=server.url("/keep"), content=b"payload")
    assert kept.status == 200
    changed = egress_request(method="POST", url=server.url("/see-other"), content=b"payload")
    first, second = server.received("/echo")
    assert (first.method, first.body) == ("POST", b"payload")
    assert (second.method, second.body) == ("GET", b"")
    assert changed.status == 200


def test_credentials_do_not_follow_a_redirect_to_another_origin(
    server: LoopbackHTTP, other: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}, 127.0.0.1:{other.port}")
    server.route("/away", Reply(status=302, headers={"Location": other.url("/landing")}))
    get(server.url("/away"), headers={"Authorization": "Bearer s3cr3t", "X-Trace": "1"})
    [landed] = other.received("/landing")
    assert "authorization" not in landed.headers
    assert landed.headers["x-trace"] == "1"


# --- Size and time limits ----------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_cut_off(
    server: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}", max_bytes=10_000)
    server.route("/small", Reply(body=b"x" * 10_000))
    server.route("/declared", Reply(body=b"x" * 10_001))
    server.route("/streamed", Reply(body=b"x" * 50_000, send_length=False))
    assert len(get(server.url("/small")).content) == 10_000
    with pytest.raises(EgressTooLarge):
        get(server.url("/declared"))
    with pytest.raises(EgressTooLarge):
        get(server.url("/streamed"))


def test_the_default_size_limit_is_two_megabytes() -> None:
    assert EgressEnv().max_bytes == 2_000_000


def test_a_server_that_does_not_answer_hits_the_read_limit(
    server: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}", read_timeout_seconds=0.5)
    server.route("/slow", Reply(delay=5))
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        get(server.url("/slow"))
    assert time.monotonic() - started < 3


def test_a_trickling_body_hits_the_total_limit(
    server: LoopbackHTTP, allow: Callable[..., None]
) -> None:
    allow(f"127.0.0.1:{server.port}", read_timeout_seconds=2.0, total_timeout_seconds=1.0)
    server.route("/drip", Reply(body=b"x" * 40 * 1024, drip=0.2))
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        get(server.url("/drip"))
    assert time.monotonic() - started < 3


# --- Pure checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.1.1", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.1.2.3", "private"),
        ("224.0.0.251", "multicast"),
        ("ff05::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("2002:a00:1::", "non-public IPv4"),
    ],
)
def test_address_refusals_name_the_reason(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_targets_keep_name_port_and_query() -> None:
    target = target_parse("HTTPS://API.Example.com./v1/items?q=1#frag")
    assert (target.scheme, target.host, target.port) == ("https", "api.example.com", 443)
    assert target.path == "/v1/items?q=1"
    assert target.url == "https://api.example.com/v1/items?q=1"


# --- TLS fixtures --------------------------------------------------------------------------------


def _tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """A server context with a certificate for ``name`` (signed by a throwaway CA), a client
    context trusting that CA, and the list the server appends each SNI name it sees to."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "controlroom test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    names: list[str] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server_context.sni_callback = lambda _sock, sni, _ctx: names.append(sni) and None
    client_context = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    return server_context, client_context, names
