"""Prometheus metrics, on a registry of our own so that tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.messages_in = Counter(
            "govbot_messages_in",
            "Messages received from citizens",
            ["channel"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "govbot_messages_out", "Replies sent to citizens", ["channel"], registry=self.registry
        )
        self.errors = Counter(
            "govbot_errors", "Steps that failed unexpectedly", registry=self.registry
        )
        self.tickets_created = Counter(
            "govbot_tickets_created", "Tickets created", ["kind"], registry=self.registry
        )
        self.open_sessions = Gauge(
            "govbot_open_sessions",
            "Conversations active within the idle timeout",
            registry=self.registry,
        )
