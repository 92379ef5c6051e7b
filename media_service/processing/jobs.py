"""The broker and the actor: how a media's processing is queued and run.

Actors are declared against an explicit broker (`Jobs(broker, queue, ...)`)
rather than dramatiq's global one, so the same code runs on RabbitMQ, Redis or
the in-process stub broker of the embedded mode. Messages are acknowledged
after the work, so a worker killed mid-job loses nothing: the message comes
back and the job (media_service.processing.processor) starts over. Only
transient faults (storage or database unavailable) are retried, with backoff;
an undecodable file fails at once.
"""

from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from media_service.models import database
from media_service.processing.processor import TRANSIENT, Processor
from mesh.tracing import TraceMessages

MAX_RETRIES = 10
JOB_TIME_LIMIT_MS = 6 * 3600 * 1000


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
    broker.add_middleware(TraceMessages())  # the job continues the trace that queued it
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


class Jobs:
    """The actors of one broker and the way to queue them."""

    def __init__(self, broker: dramatiq.Broker, queue_name: str, processor: Processor) -> None:
        self.broker = broker

        def process_media(media_id: str) -> None:
            processor.process(media_id)

        self.process_media = dramatiq.actor(
            broker=broker,
            actor_name="process_media",
            queue_name=queue_name,
            max_retries=MAX_RETRIES,
            min_backoff=1_000,
            max_backoff=60_000,
            retry_when=_retry_transient,
            # dramatiq's default (10 minutes) would kill a long video's transcode,
            # which has a time limit of its own (media_service.processing.transcoding).
            time_limit=JOB_TIME_LIMIT_MS,
        )(process_media)

    def enqueue_processing(self, media_id: str) -> None:
        self.process_media.send(media_id)
