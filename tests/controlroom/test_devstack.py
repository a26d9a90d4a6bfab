"""controlroom/devstack.py: the embedded servers `make run` and the tests stand on."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from controlroom import devstack
from controlroom.env import database_from_url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[devstack.RedisProcess]:
    server = devstack.start_redis(tmp_path / "redis")
    yield server
    server.stop()


def test_free_port_can_be_bound() -> None:
    port = devstack.free_port()
    with socket.socket() as sock:
        sock.bind((devstack.LOOPBACK, port))


def test_tcp_answers_only_while_something_listens() -> None:
    with socket.socket() as sock:
        sock.bind((devstack.LOOPBACK, 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert devstack.tcp_answers(devstack.LOOPBACK, port)
    assert not devstack.tcp_answers(devstack.LOOPBACK, port)


def test_redis_serves_on_its_url_without_persistence(redis_server: devstack.RedisProcess) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("k", "v")
        assert client.get("k") == b"v"
        config = client.config_get("save") | client.config_get("appendonly")
        assert config == {"save": "", "appendonly": "no"}
        assert client.config_get("dir")["dir"] == str(redis_server.data_dir)
    finally:
        client.close()


def test_killed_redis_restarts_empty_on_the_same_port(redis_server: devstack.RedisProcess) -> None:
    url, port = redis_server.url, redis_server.port
    client = redis.Redis.from_url(url)
    try:
        client.set("queued", "message")
        redis_server.kill()
        assert not devstack.tcp_answers(devstack.LOOPBACK, port)
        redis_server.restart()
        assert (redis_server.url, redis_server.port) == (url, port)
        assert client.get("queued") is None
    finally:
        client.close()


def test_stopped_redis_leaves_no_process(redis_server: devstack.RedisProcess) -> None:
    pid = redis_server.pid
    assert pid is not None
    redis_server.stop()
    redis_server.stop()
    assert redis_server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_system_redis_binary_can_be_chosen(tmp_path: Path) -> None:
    server = devstack.start_redis(tmp_path / "redis", executable=devstack.SYSTEM_REDIS)
    try:
        assert devstack.redis_pings(devstack.LOOPBACK, server.port)
    finally:
        server.stop()


def test_embedded_postgres_serves_a_created_database_over_its_socket(tmp_path: Path) -> None:
    server, url = devstack.start_embedded_postgres(tmp_path / "pg", database="devstack_check")
    postmaster = server.get_postmaster_info().process
    try:
        settings = database_from_url(url)
        assert settings["NAME"] == "devstack_check"
        assert str(settings["HOST"]).startswith("/")
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_database(), current_setting('listen_addresses')")
            assert row.fetchone() == ("devstack_check", "")
            laptop = conn.execute(
                "SELECT current_setting('io_method'),"
                " current_setting('max_logical_replication_workers')"
            )
            assert laptop.fetchone() == ("sync", "0")
        assert postmaster is not None
        titles = " ".join(" ".join(p.cmdline()) for p in postmaster.children())
        assert "io worker" not in titles and "logical replication launcher" not in titles
        # Starting again attaches to the running server and keeps the database.
        again, again_url = devstack.start_embedded_postgres(
            tmp_path / "pg", database="devstack_check"
        )
        assert again is server and again_url == url
    finally:
        devstack.stop_embedded_postgres(server)
    devstack.stop_embedded_postgres(server)
    assert postmaster is not None
    assert devstack._exited(postmaster)
