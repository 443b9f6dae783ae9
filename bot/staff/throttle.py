"""How many wrong passwords a sign-in may cost: the policy, decided from three counts.

A client is an IPv4 address, or an IPv6 /64 (one subscriber's whole block: counting its
addresses one by one let twelve of them lock an owner out). Each attempt is counted for
its (account, client) pair, which backs off after a few failures (doubling, capped); for
the client across every user name, up to a ceiling per window (random names were never
throttled); and for the account across every client, up to a higher ceiling. A device
that signed in to the account before (`known`) meets only its own back-off, so neither
ceiling locks the owner out. An attempt is reserved, counted as a failure before its
password is checked, so parallel requests cannot spend more than the budget.
Pure: storage is bot/storage/sqlite/throttle.py, the request bot/web/staff/signin.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv6Address, IPv6Network, ip_address


def client_of(address: str | None) -> str:
    """What one client is: an IPv4 address, or the /64 an IPv6 address belongs to."""
    try:
        parsed = ip_address(address or "")
    except ValueError:
        return address or "-"
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Count:
    """Failures since `since`; an address's count also says until when it must wait."""

    failures: int
    since: datetime
    blocked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """`allowed`: check the password, after storing the three counts (the attempt already
    counted). Otherwise refuse for `retry_after`; `scope` says what refused ("client": this
    account from this client, "address": this client, "account": every new device, "busy":
    no room to check a password now)."""

    allowed: bool
    client: Count | None = None
    account: Count | None = None
    address: Count | None = None
    retry_after: timedelta = timedelta(0)
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    free_per_client: int = 5
    first_backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=1)
    account_ceiling: int = 50
    address_ceiling: int = 30

    def backoff(self, failures: int) -> timedelta:
        """How long an address waits after its `failures`-th failure in a row."""
        over = failures - self.free_per_client
        if over < 0:
            return timedelta(0)
        doubled: timedelta = self.first_backoff * 2 ** min(over, 20)
        return min(doubled, self.max_backoff)

    def live_client(self, count: Count | None, now: datetime) -> Count | None:
        """An address's count is forgotten after a quiet window once its wait is over."""
        if count is None:
            return None
        quiet_from = count.blocked_until or count.since
        return None if now >= quiet_from + self.window else count

    def live_account(self, count: Count | None, now: datetime) -> Count | None:
        """An account's (or a client's) count runs in fixed windows from its first failure."""
        return None if count is None or now >= count.since + self.window else count

    def reserve(
        self,
        client: Count | None,
        account: Count | None,
        now: datetime,
        *,
        address: Count | None = None,
        known: bool = False,
    ) -> Verdict:
        """Refuse, or count this attempt as a failure on all three counts up front."""
        client = self.live_client(client, now)
        account = self.live_account(account, now)
        address = self.live_account(address, now)
        ceilings = (
            ("account", account, self.account_ceiling),
            ("address", address, self.address_ceiling),
        )
        for scope, count, ceiling in () if known else ceilings:
            if count is not None and count.failures >= ceiling:
                return Verdict(False, retry_after=count.since + self.window - now, scope=scope)
        if client is not None and client.blocked_until and client.blocked_until > now:
            return Verdict(False, retry_after=client.blocked_until - now, scope="client")
        failures = (client.failures if client else 0) + 1
        return Verdict(
            True,
            client=Count(failures, client.since if client else now, now + self.backoff(failures)),
            account=_plus_one(account, now),
            address=_plus_one(address, now),
        )

    def credit(self, account: Count | None, now: datetime) -> Count | None:
        """An account's (or a client's) count once a reserved attempt turned out right."""
        account = self.live_account(account, now)
        if account is None or account.failures <= 1:
            return None
        return Count(account.failures - 1, account.since)


def _plus_one(count: Count | None, now: datetime) -> Count:
    return Count((count.failures if count else 0) + 1, count.since if count else now)


POLICY = Policy()
