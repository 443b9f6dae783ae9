"""How many wrong passwords a sign-in may cost: the policy, decided from two counts.

Each attempt is counted twice: for its (account, client address) pair, which backs off
after a few failures (doubling, capped), and for the account across every address, with
a much higher ceiling per window after which the account is throttled for everyone. The
first stops one attacker without locking the owner out from elsewhere (a hard lock let
anyone who knew a user name shut its owner out for an hour); the second bounds what many
addresses together can try. An attempt is reserved, counted as a failure before its
password is checked, so parallel requests cannot spend more than the budget.
Pure: storage is bot/storage/sqlite/throttle.py, the request bot/web/staff/signin.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Count:
    """Failures since `since`; an address's count also says until when it must wait."""

    failures: int
    since: datetime
    blocked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """`allowed`: check the password, after storing `client` and `account` (the attempt
    already counted). Otherwise refuse for `retry_after`; `scope` says which count
    refused ("client": this address, "account": everyone)."""

    allowed: bool
    client: Count | None = None
    account: Count | None = None
    retry_after: timedelta = timedelta(0)
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    free_per_client: int = 5
    first_backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=1)
    account_ceiling: int = 50

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
        """An account's count runs in fixed windows from its first failure."""
        return None if count is None or now >= count.since + self.window else count

    def reserve(self, client: Count | None, account: Count | None, now: datetime) -> Verdict:
        """Refuse, or count this attempt as a failure on both counts up front."""
        client = self.live_client(client, now)
        account = self.live_account(account, now)
        if account is not None and account.failures >= self.account_ceiling:
            return Verdict(False, retry_after=account.since + self.window - now, scope="account")
        if client is not None and client.blocked_until and client.blocked_until > now:
            return Verdict(False, retry_after=client.blocked_until - now, scope="client")
        failures = (client.failures if client else 0) + 1
        return Verdict(
            True,
            client=Count(failures, client.since if client else now, now + self.backoff(failures)),
            account=Count(
                (account.failures if account else 0) + 1, account.since if account else now
            ),
        )

    def credit(self, account: Count | None, now: datetime) -> Count | None:
        """The account's count once a reserved attempt turned out right."""
        account = self.live_account(account, now)
        if account is None or account.failures <= 1:
            return None
        return Count(account.failures - 1, account.since)


POLICY = Policy()
