"""Asynchronous processing of verified uploads: the broker and the actors.

Actors are declared against an explicit broker (`Jobs(broker, queue)`) rather
than dramatiq's global one, so the same code runs on RabbitMQ, Redis or the
in-process stub broker of the embedded mode. Messages are acknowledged after
the work; a job is idempotent, and only transient faults (storage or
database unavailable) are retried.
"""

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from peewee import InterfaceError, OperationalError

from media_service.models import Media, Status, database, utcnow
from mesh.errors import Unavailable

log = logging.getLogger(__name__)

TRANSIENT = (Unavailable, OperationalError, InterfaceError)
MAX_RETRIES = 10


def make_broker(broker_url: str | None) -> dramatiq.Broker:
    """RabbitMQ (amqp://), Redis (redis://), or an in-process stub when unset."""
    broker: dramatiq.Broker
    if broker_url is None:
        broker = StubBroker()
    elif broker_url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=broker_url, confirm_delivery=True)
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=broker_url)
    broker.add_middleware(ConnectionPerJob())
    return broker


class ConnectionPerJob(dramatiq.Middleware):
    """One database connection for the length of each job."""

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        database.connect(reuse_if_open=True)

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if not database.is_closed():
            database.close()

    after_skip_message = after_process_message


def _retry_transient(retries: int, exception: BaseException) -> bool:
    return retries < MAX_RETRIES and isinstance(exception, TRANSIENT)


def process_media(media_id: str) -> None:
    """UPLOADED → PROCESSING → READY. Re-running it on a finished media does nothing."""
    started = (
        Media.update(status=Status.PROCESSING, updated_at=utcnow())
        .where((Media.id == media_id) & (Media.status.in_([Status.UPLOADED, Status.PROCESSING])))
        .execute()
    )
    if not started:
        log.info("nothing to process", extra={"fields": {"media_id": media_id}})
        return
    Media.update(status=Status.READY, updated_at=utcnow()).where(
        (Media.id == media_id) & (Media.status == Status.PROCESSING)
    ).execute()
    log.info("processed", extra={"fields": {"media_id": media_id}})


class Jobs:
    """The actors of one broker and the way to queue them."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str) -> None:
        self.broker = broker
        self.process_media = dramatiq.actor(
            broker=broker,
            actor_name="process_media",
            queue_name=queue_name,
            max_retries=MAX_RETRIES,
            min_backoff=1_000,
            max_backoff=60_000,
            retry_when=_retry_transient,
        )(process_media)

    def enqueue_processing(self, media_id: str) -> None:
        self.process_media.send(media_id)
