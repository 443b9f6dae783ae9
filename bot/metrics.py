"""Prometheus metrics, on a registry of our own so that tests can build many apps."""

from __future__ import annotations

from typing import Any

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
        self.flood_dropped = Counter(
            "govbot_flood_dropped",
            "Messages dropped unread because their chat sent faster than flood control allows",
            ["channel"],
            registry=self.registry,
        )
        self.tickets_created = Counter(
            "govbot_tickets_created",
            "Complaints and feedback tickets created",
            ["kind"],
            registry=self.registry,
        )
        # reason: an error class name (MalformedUpdate, DecryptionError...), never content.
        self.dead_letters = Counter(
            "govbot_dead_letters",
            "Inbound updates that could not be taken and were set aside, never replayed",
            ["channel", "reason"],
            registry=self.registry,
        )
        # reason: refused (the Content API or Twilio said no) or unavailable (5xx, timeout).
        self.whatsapp_content_fallbacks = Counter(
            "govbot_whatsapp_content_fallbacks",
            "WhatsApp replies with options sent as numbered text because interactive failed",
            ["reason"],
            registry=self.registry,
        )
        self.open_sessions = Gauge(
            "govbot_open_sessions",
            "Conversations active within the idle timeout",
            registry=self.registry,
        )
        # Tips stay out of /metrics, as from govbot_tickets_created: their numbers are theirs.
        self.tickets_overdue = Gauge(
            "govbot_tickets_overdue",
            "Open complaints and feedback past their deadline, read at each scrape",
            ["kind"],
            registry=self.registry,
        )
        # labels() costs a lock and a tuple per call; the channel children are few.
        self._inbound: dict[str, Any] = {}
        self._outbound: dict[str, Any] = {}
        self.wal_bytes = Gauge(
            "govbot_sqlite_wal_bytes",
            "Size of SQLite's write-ahead log file, read at each scrape",
            registry=self.registry,
        )

    def inbound(self, channel: str) -> Any:
        child = self._inbound.get(channel)
        if child is None:
            child = self._inbound[channel] = self.messages_in.labels(channel)
        return child

    def outbound(self, channel: str) -> Any:
        child = self._outbound.get(channel)
        if child is None:
            child = self._outbound[channel] = self.messages_out.labels(channel)
        return child
