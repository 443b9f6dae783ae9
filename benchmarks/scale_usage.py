"""What one row of benchmarks/scale_out.py cost in CPU, from /proc, and what bound it:
the whole machine (shared: other people's work counts), one Python process at its one
core, the load generator, the webhook lanes, or nothing busy (waiting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telegram_load import CLOCK_TICKS

SATURATED = 0.9  # of the cores, or of one core for one Python process


@dataclass
class Usage:
    """CPU seconds over one row's load, from /proc."""

    wall_s: float
    cores: int
    machine_s: float  # every process on the machine, ours and everybody else's
    instance_s: list[float]
    postgres_s: float
    fake_s: float
    transactions: int = 0  # PostgreSQL's, over the row
    post_ms: float = 0.0  # median time for the bot to answer a webhook POST (200)
    lanes_busy: float = 0.0  # of the bot's webhook lanes (max_connections), over the row

    @property
    def govbot_s(self) -> float:
        return sum(self.instance_s)

    def ceiling(self, messages: int) -> float:
        """msg/s this row's CPU cost per message allows on the machine's cores with nothing
        else running: govbot and PostgreSQL together within the cores, and each instance
        (one Python thread) within one core. The fake is left out: it stands for Telegram."""
        if not messages or not self.govbot_s:
            return 0.0
        server = (self.govbot_s + self.postgres_s) / messages
        per_instance = self.govbot_s / messages / len(self.instance_s)
        return min(self.cores / server, 1 / per_instance)

    def share(self, seconds: float) -> float:
        """Seconds of CPU as a fraction of one core over the row."""
        return seconds / self.wall_s if self.wall_s else 0.0


def bound(u: Usage) -> str:
    """What held the row back, from the CPU it used: the whole machine, one Python process
    (one thread, so one core at most), the load generator, or nothing busy (waiting)."""
    machine = u.share(u.machine_s)
    ours = u.share(u.govbot_s + u.postgres_s + u.fake_s)
    if machine >= SATURATED * u.cores:
        verdict = f"CPU: machine {machine:.0%} of {100 * u.cores}%"
        if machine - ours > ours:
            verdict += f", mostly other work ({machine - ours:.0%}): compare ms/msg, not msg/s"
        verdict += f" (govbot+PostgreSQL+fake {ours:.0%})"
        if u.lanes_busy >= SATURATED:  # what the slowness shows up as
            verdict += f"; webhook lanes {u.lanes_busy:.0%} busy"
        return verdict
    busiest = max(u.instance_s, default=0.0)
    if u.share(busiest) >= SATURATED:
        return f"CPU: a govbot process at {u.share(busiest):.0%} of its one core"
    if u.share(u.fake_s) >= SATURATED:
        return f"CPU: the fake (load generator) at {u.share(u.fake_s):.0%} of a core"
    if u.lanes_busy >= SATURATED:
        return f"webhook lanes: {u.lanes_busy:.0%} busy, a POST waits {u.post_ms:.0f} ms for 200"
    return f"waiting: machine {machine:.0%} of {100 * u.cores}% (database, chat turns)"


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle, iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS
