"""The machine's RabbitMQ, and clearing away a mesh's queues after it."""

import os

import pika

RABBITMQ_URL = os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def delete_queues(queue: str) -> None:
    """Delete `queue` and the delay and dead-letter queues dramatiq made beside it."""
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
        channel.queue_delete(queue=name)
    connection.close()
