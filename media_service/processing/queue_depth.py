"""The processing queue seen from the worker: the broker as a dependency (its
readiness) and the queue's depth (a metric), both from one background check.

The check runs on the health thread (mesh.health), so a scrape never opens a
broker connection of its own; the metric shows the last check's counts.
"""

from collections.abc import Iterator

import dramatiq
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class QueueWatch:
    def __init__(self, broker: dramatiq.Broker, queue: str) -> None:
        self._broker = broker
        self.queue = queue
        # (ready, delayed, dead) at the last check; None before one, or on Redis.
        self.counts: tuple[int, int, int] | None = None

    def check(self) -> None:
        """Raises when the broker cannot be used."""
        counts = getattr(self._broker, "get_queue_message_counts", None)
        if counts is not None:  # RabbitMQ: declares (passively) and counts
            self.counts = counts(self.queue)
        else:  # Redis
            self._broker.client.ping()  # type: ignore[attr-defined]


class QueueDepth(Collector):
    """`media_processing_queue_messages{queue, state}`: messages waiting
    (ready), waiting for a retry (delayed) and given up on (dead)."""

    def __init__(self, watch: QueueWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "media_processing_queue_messages",
            "Messages in the processing queue, by state (RabbitMQ only).",
            labels=["queue", "state"],
        )
        if self._watch.counts is not None:
            for state, count in zip(("ready", "delayed", "dead"), self._watch.counts, strict=True):
                family.add_metric([self._watch.queue, state], count)
        yield family
