"""The Redis broker transport, hardened against one failure seen on these machines.

Celery 5.7 closes the broker connection when Redis goes away and kombu then tries to put the
worker's unacknowledged messages back — over the connection that is gone. The resulting
AttributeError escapes Celery's connection-error handling and kills the worker ("Unrecoverable
error"), so a Redis restart took every worker down with it. Here that restore failure is
logged instead: the messages stay in Redis' unacked index (kombu restores them after the
visibility timeout) and, sooner, the engine's reconciler re-publishes every step PostgreSQL
still shows as queued or whose heartbeat lapsed. The worker then reconnects as usual.

The same goes for acknowledging a message that finished on the old connection: the ack is
dropped, the message comes back after the visibility timeout, and its step's claim — a
compare-and-set in PostgreSQL — turns the redelivery into a no-op.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


# kombu ships py.typed but leaves these QoS methods unannotated, hence the ignores on the calls.
class QoS(kombu_redis.QoS):
    def restore_unacked(self, client: Any = None) -> Any:
        try:
            return super().restore_unacked(client)  # type: ignore[no-untyped-call]
        except (AttributeError, *kombu_redis.Transport.connection_errors) as exc:
            logger.warning(
                "could not restore %d unacked message(s) while the broker is away (%r); "
                "the reconciler re-publishes their steps",
                len(self._delivered),
                exc,
            )
            return None

    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
        except (AttributeError, *kombu_redis.Transport.connection_errors) as exc:
            logger.warning("could not ack message %s on a lost connection (%r)", delivery_tag, exc)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]
        except (AttributeError, *kombu_redis.Transport.connection_errors) as exc:
            logger.warning(
                "could not reject message %s on a lost connection (%r)", delivery_tag, exc
            )


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
