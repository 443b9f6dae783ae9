"""The sign-in throttling policy, decided from counts alone (bot/staff/throttle.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.staff.throttle import Count, Policy, client_of

T0 = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
P = Policy(
    window=timedelta(minutes=15),
    free_per_client=5,
    first_backoff=timedelta(minutes=1),
    max_backoff=timedelta(hours=1),
    account_ceiling=50,
    address_ceiling=30,
)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0), (1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (10, 32), (11, 60), (40, 60)],
)
def test_backoff_doubles_after_the_free_tries_up_to_the_cap(failures, wait):
    assert P.backoff(failures) == wait * MIN


@pytest.mark.parametrize(
    ("client", "account", "now", "allowed", "scope", "retry_after"),
    [
        # Nothing counted yet: allowed.
        (None, None, T0, True, "", 0),
        # Under the free tries.
        (Count(4, T0, T0), Count(4, T0), T0, True, "", 0),
        # This address is waiting: refused for the rest of its wait, only here.
        (Count(5, T0, T0 + MIN), Count(5, T0), T0, False, "client", 1),
        (Count(6, T0, T0 + 2 * MIN), Count(6, T0), T0 + MIN, False, "client", 1),
        # The wait is over: one more try.
        (Count(5, T0, T0 + MIN), Count(5, T0), T0 + MIN, True, "", 0),
        # The account has hit its ceiling: refused for everyone until the window ends.
        (None, Count(50, T0), T0 + 5 * MIN, False, "account", 10),
        (Count(2, T0, T0), Count(50, T0), T0 + 5 * MIN, False, "account", 10),
        # The account's window has passed: counting starts again.
        (None, Count(50, T0), T0 + 15 * MIN, True, "", 0),
        # An address's count is forgotten a quiet window after its wait ended.
        (Count(9, T0, T0 + 16 * MIN), None, T0 + 31 * MIN, True, "", 0),
    ],
)
def test_reserve(client, account, now, allowed, scope, retry_after):
    verdict = P.reserve(client, account, now)
    assert verdict.allowed is allowed
    assert verdict.scope == scope
    assert verdict.retry_after == retry_after * MIN


def test_a_reserved_attempt_is_already_counted_as_a_failure():
    verdict = P.reserve(Count(4, T0, T0), Count(20, T0 - MIN), T0 + MIN)
    assert verdict.client == Count(5, T0, T0 + 2 * MIN)  # the fifth failure starts a wait
    assert verdict.account == Count(21, T0 - MIN)


def test_a_forgotten_count_starts_over():
    verdict = P.reserve(Count(9, T0, T0 + 16 * MIN), None, T0 + 31 * MIN)
    assert verdict.client == Count(1, T0 + 31 * MIN, T0 + 31 * MIN)
    assert verdict.account == Count(1, T0 + 31 * MIN)


@pytest.mark.parametrize(
    ("account", "now", "after"),
    [
        (None, T0, None),
        (Count(1, T0), T0, None),
        (Count(7, T0), T0, Count(6, T0)),
        (Count(7, T0), T0 + 15 * MIN, None),  # window over: nothing to credit
    ],
)
def test_a_right_password_gives_the_account_its_try_back(account, now, after):
    assert P.credit(account, now) == after


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:77:5::1", "2001:db8:77:5::/64"),
        ("2001:db8:77:5:ffff:1:2:3", "2001:db8:77:5::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "-"),
        ("testclient", "testclient"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address, client):
    assert client_of(address) == client


@pytest.mark.parametrize(
    ("client", "account", "address", "known", "allowed", "scope", "retry_after"),
    [
        # This client has failed for thirty names: refused for the rest of its window.
        (None, None, Count(30, T0), False, False, "address", 10),
        (None, None, Count(29, T0), False, True, "", 0),
        (None, None, Count(30, T0 - 15 * MIN), False, True, "", 0),  # window over
        # A device that signed in to this account before meets neither ceiling...
        (None, Count(50, T0), Count(30, T0), True, True, "", 0),
        # ...only its own back-off.
        (Count(5, T0, T0 + 6 * MIN), Count(50, T0), None, True, False, "client", 1),
    ],
)
def test_reserve_with_the_client_ceiling_and_known_devices(
    client, account, address, known, allowed, scope, retry_after
):
    verdict = P.reserve(client, account, T0 + 5 * MIN, address=address, known=known)
    assert verdict.allowed is allowed
    assert verdict.scope == scope
    assert verdict.retry_after == retry_after * MIN


def test_a_reserved_attempt_counts_for_the_client_too():
    verdict = P.reserve(None, None, T0, address=Count(3, T0 - MIN), known=True)
    assert verdict.address == Count(4, T0 - MIN)
