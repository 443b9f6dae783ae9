"""`govbot keys rotate`: everything sealed with DATA_KEY re-sealed under its newest key.

Database rows go a batch at a time, each batch one short write transaction, so a running
`govbot run` waits milliseconds at most, never for the whole rotation; then the attachment
files, each rewritten atomically under its own name. A blob's first byte names its key,
so a run after a crash (or a second run) skips what is done. Keyed hashes made from a chat
(the citizen lookup) move with the citizen's address. When the
report shows nothing left under an older key, that key can leave DATA_KEY.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.attachments import AttachmentStore
from bot.crypto import DecryptionError
from bot.storage import Storage

ATTACHMENTS = "attachments"
BATCH_SIZE = 500
_BAR = 20


@dataclass
class Count:
    """One table's (or the attachment folder's) numbers."""

    name: str
    total: int = 0
    examined: int = 0
    rotated: int = 0
    failed: int = 0  # did not open: an unknown key version, or tampered
    left: int = 0  # still under an older key when the run ended


@dataclass
class Report:
    version: int  # the key everything was re-sealed under
    counts: list[Count] = field(default_factory=list)
    finished: bool = True  # False: stopped after `max_batches`
    receipts: int = 0  # tips whose receipt is a keyed hash (cannot follow a rotation)

    @property
    def left(self) -> int:
        return sum(count.left for count in self.counts)

    @property
    def failed(self) -> int:
        return sum(count.failed for count in self.counts)


class Progress:
    """A plain-text progress line per table: redrawn in place on a terminal, otherwise a
    line at most every `every_seconds` and one when the table is done."""

    def __init__(self, stream: TextIO, *, every_seconds: float = 1.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_seconds = every_seconds
        self._shown = -math.inf

    def show(self, count: Count, *, done: bool = False) -> None:
        now = time.monotonic()
        if not (done or self.tty or now - self._shown >= self.every_seconds):
            return
        self._shown = now
        total = max(count.total, count.examined)
        filled = _BAR * count.examined // total if total else _BAR
        line = f"{count.name:<16}[{'#' * filled}{'.' * (_BAR - filled)}] {count.examined}/{total}"
        if self.tty:
            self.stream.write(f"\r{line}" + ("\n" if done else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class _Budget:
    """How many batches a run may still do (None: no limit); tests stop a run midway."""

    def __init__(self, batches: int | None) -> None:
        self.batches = batches

    def spend(self) -> bool:
        if self.batches is None:
            return True
        if self.batches <= 0:
            return False
        self.batches -= 1
        return True


async def rotate(
    storage: Storage,
    attachments: AttachmentStore,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Re-seal every row and file not yet under the current key; see the module doc."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    async with storage.read() as tx:
        report = Report(version=tx.rotation.version)
        names = tx.rotation.tables()
    budget = _Budget(max_batches)
    for name in names:
        count = Count(name)
        report.counts.append(count)
        async with storage.read() as tx:
            count.total = await tx.rotation.count(name)
        if report.finished:
            report.finished = await _rotate_table(storage, count, batch_size, budget, progress)
    count = Count(ATTACHMENTS)
    report.counts.append(count)
    blob_ids = await asyncio.to_thread(attachments.blob_ids)
    count.total = len(blob_ids)
    if report.finished:
        report.finished = await _rotate_files(
            attachments, blob_ids, count, batch_size, budget, progress
        )
    async with storage.read() as tx:
        for count in report.counts[:-1]:
            count.left = await tx.rotation.left(count.name)
        report.receipts = await tx.rotation.receipts()
    report.counts[-1].left = await asyncio.to_thread(_files_left, attachments, report.version)
    return report


async def _rotate_table(
    storage: Storage,
    count: Count,
    batch_size: int,
    budget: _Budget,
    progress: Progress | None,
) -> bool:
    after: Any = None
    while True:
        if not budget.spend():
            return False
        async with storage.transaction() as tx:
            batch = await tx.rotation.batch(count.name, after=after, limit=batch_size)
        count.examined += batch.examined
        count.rotated += batch.rotated
        count.failed += batch.failed
        after = batch.last
        if progress is not None:
            progress.show(count, done=after is None)
        if after is None:
            return True


async def _rotate_files(
    attachments: AttachmentStore,
    blob_ids: list[str],
    count: Count,
    batch_size: int,
    budget: _Budget,
    progress: Progress | None,
) -> bool:
    for start in range(0, len(blob_ids), batch_size):
        if not budget.spend():
            return False
        chunk = blob_ids[start : start + batch_size]
        rotated, failed = await asyncio.to_thread(_reseal_files, attachments, chunk)
        count.examined += len(chunk)
        count.rotated += rotated
        count.failed += failed
        if progress is not None:
            progress.show(count, done=start + batch_size >= len(blob_ids))
    if not blob_ids and progress is not None:
        progress.show(count, done=True)
    return True


def _reseal_files(attachments: AttachmentStore, blob_ids: list[str]) -> tuple[int, int]:
    rotated = failed = 0
    for blob_id in blob_ids:
        try:
            rotated += attachments.reseal(blob_id)
        except DecryptionError:
            failed += 1
    return rotated, failed


def _files_left(attachments: AttachmentStore, version: int) -> int:
    versions = (attachments.version_of(blob_id) for blob_id in attachments.blob_ids())
    return sum(1 for found in versions if found is not None and found != version)


def report_table(report: Report) -> str:
    """The counts per table, for the operator (English, like the other admin commands)."""
    lines = [f"{'':<16}{'rows':>8}{'rotated':>9}{'failed':>8}{'left':>7}"]
    for count in report.counts:
        lines.append(
            f"{count.name:<16}{max(count.total, count.examined):>8}{count.rotated:>9}"
            f"{count.failed:>8}{count.left:>7}"
        )
    return "\n".join(lines)
