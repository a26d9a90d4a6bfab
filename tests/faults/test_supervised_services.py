"""`make run` keeps its own Redis and PostgreSQL up: killed, they come back (Redis on the same
port with what its append-only file held), and the supervisor still owns them to stop them.
Before, they stayed dead until a person restarted them by hand."""

from __future__ import annotations

from pathlib import Path

import redis

from controlroom import devstack
from controlroom.supervisor import Config, Supervisor
from tests.support.wait import wait_for


def test_the_supervisor_restarts_a_killed_redis_and_a_crashed_postgres(tmp_path: Path) -> None:
    supervisor = Supervisor(
        Config(
            data_dir=tmp_path / "data",
            port=devstack.free_port(),
            database_url=None,
            redis_url=None,
            settings_module="controlroom.settings.test",
        )
    )
    supervisor.redis = devstack.start_redis(tmp_path / "redis", persistent=True)
    supervisor.postgres, url = devstack.start_embedded_postgres(supervisor.config.data_dir / "pg")
    supervisor.child_env = {"DATABASE_URL": url}
    restarts: dict[str, list[float]] = {}
    try:
        client = redis.Redis.from_url(supervisor.redis.url)
        client.set("accepted", "before the crash")
        aof = tmp_path / "redis" / "appendonly.aof"
        wait_for(lambda: aof.exists() and b"accepted" in aof.read_bytes(), message="the AOF")
        supervisor.redis.kill()
        assert supervisor._keep_services_up(restarts)
        assert redis.Redis.from_url(supervisor.redis.url).get("accepted") == b"before the crash"

        devstack.stop_embedded_postgres(supervisor.postgres, mode="immediate")
        assert not devstack.postgres_answers(url)
        assert supervisor._keep_services_up(restarts)
        assert devstack.postgres_answers(url)
        assert sorted(restarts) == ["postgres", "redis"]
    finally:
        supervisor.redis.stop()
        devstack.stop_embedded_postgres(supervisor.postgres)
