"""Who may do what. One table, read by the console, the API and the export.

| role         | complaints, feedback | tips                      | accounts, audit | campaigns |
| ------------ | -------------------- | ------------------------- | --------------- | --------- |
| admin        | read, act, export    | counts only               | yes             | yes       |
| reviewer     | read, act, export    | counts only               | no              | no        |
| investigator | no                   | read, reveal, act, export | no              | no        |
| operator     | no                   | counts only               | no              | yes       |

Everyone signed in sees the statistics (aggregates only, no content).
"""

from __future__ import annotations

from bot.staff.records import StaffUser
from bot.storage.records import Ticket

KINDS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "admin": ("complaint", "feedback"),
    "reviewer": ("complaint", "feedback"),
    "investigator": ("tip",),
    "operator": (),
}

ADMIN = "admin"
INVESTIGATOR = "investigator"
CAMPAIGN_ROLES = ("admin", "operator")


def visible_kinds(user: StaffUser) -> tuple[str, ...]:
    return KINDS_BY_ROLE.get(user.role, ())


def can_see(user: StaffUser, ticket: Ticket) -> bool:
    return ticket.kind in visible_kinds(user)


def can_work_tickets(user: StaffUser) -> bool:
    return bool(visible_kinds(user))
