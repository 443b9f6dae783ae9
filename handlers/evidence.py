"""The evidence step, written once for every flow that takes files (a complaint, a tip).

A flow adds it with `add_step`, in its own words (`Wording`) and saying where it goes
next; the step itself is the same everywhere: files are checked one by one (kind, type,
size, how many) and each refusal says why, the draft keeps them in one shape (a dict of
`AttachmentRef` fields under data["files"]), and "Remove all" empties the list.

```mermaid
stateDiagram-v2
    [*] --> evidence
    evidence --> evidence: files (each kept or refused), a location (if taken), ev:clear
    evidence --> [*]: ev:skip / ev:done (the flow's next step)
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bot.attachments import SUPPORTED_TYPES
from bot.domain import Attachment, AttachmentKind, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import BUTTONS, FILES, LOCATION, TEXT, Context, Flow, Go
from bot.storage.records import AttachmentRef

KINDS = frozenset(
    {
        AttachmentKind.PHOTO,
        AttachmentKind.DOCUMENT,
        AttachmentKind.VIDEO,
        AttachmentKind.AUDIO,
        AttachmentKind.VOICE,
    }
)


@dataclass(frozen=True, slots=True)
class Wording:
    """The catalog messages a flow asks for evidence in: its own voice, one behaviour.

    ask: the first question, plural in the number of files allowed ({n}; {limit_mb}).
    so_far: what was received, plural in it ({n}, {limit}), inviting more or «Done».
    skip, done, clear: the buttons to go on with nothing, to go on, to remove all.
    """

    ask: str
    so_far: str
    skip: str
    done: str
    clear: str


def add_step(
    flow: Flow,
    name: str,
    wording: Wording,
    *,
    then: Callable[[Context], Go],
    location: bool = False,
    keep_names: bool = False,
) -> None:
    """Add the evidence step to `flow` as state `name`; `then` gives the step after it.

    location: a shared location is kept too (data["location"]).
    keep_names: file names are kept; a tip drops them, as they often name a person.
    """

    @flow.prompt(name)
    async def ask(ctx: Context) -> Reply:
        files = ctx.data.get("files", [])
        limit = ctx.settings.max_attachments
        if not files and not ctx.data.get("location"):
            mb = ctx.settings.max_attachment_mb
            text = ctx.t.ngettext(wording.ask, wording.ask, limit, limit_mb=mb)
            skip = ctx.button(wording.skip, "ev:skip")
            return Reply(text, (skip, *ctx.nav()), takes_location=location)
        lines = [ctx.t("evidence.location_saved")] if ctx.data.get("location") else []
        lines.append(ctx.t.ngettext(wording.so_far, wording.so_far, len(files), limit=limit))
        buttons = (
            ctx.button(wording.done, "ev:done"),
            ctx.button(wording.clear, "ev:clear"),
            *ctx.nav(),
        )
        return Reply("\n".join(lines), buttons)

    accepts = {TEXT, BUTTONS, FILES} | ({LOCATION} if location else set())

    @flow.on(name, accepts=frozenset(accepts))
    async def take(msg: Inbound, ctx: Context) -> Go:
        if msg.payload == "ev:clear":
            ctx.data["files"] = []
            ctx.data.pop("location", None)
            return Go(state=name)
        if msg.payload in ("ev:done", "ev:skip"):
            return then(ctx)
        if not msg.attachments and msg.location is None:
            raise UserInputError("evidence.send_file")
        if msg.location is not None:
            loc = msg.location
            ctx.data["location"] = {
                "latitude": loc.latitude,
                "longitude": loc.longitude,
                "address": loc.address,
            }
        refusals = [_keep(att, ctx, keep_names) for att in msg.attachments]
        return Go(state=name, say=tuple(r for r in refusals if r is not None))


def _keep(att: Attachment, ctx: Context, keep_names: bool) -> Reply | None:
    """Add one file to the draft; the reason it was not added, if it was not."""
    files: list[dict[str, Any]] = ctx.data.setdefault("files", [])
    limit, limit_mb = ctx.settings.max_attachments, ctx.settings.max_attachment_mb
    if len(files) >= limit:
        reason = ctx.t("evidence.full", limit=limit)
    elif att.kind not in KINDS or att.content_type not in SUPPORTED_TYPES:
        reason = ctx.t("attachment.unsupported_type")
    elif att.size > limit_mb * 1024 * 1024:
        reason = ctx.t("attachment.too_large", limit_mb=limit_mb)
    else:
        if all(f["blob_id"] != att.blob_id for f in files):
            name = att.file_name if keep_names else None
            ref = AttachmentRef(att.blob_id, att.kind.value, att.content_type, att.size, name)
            files.append(asdict(ref))
        return None
    label = (att.file_name if keep_names else None) or ctx.t("evidence.unnamed")
    return Reply(ctx.t("evidence.refused", file=label, reason=reason))


def files(data: dict[str, Any]) -> list[AttachmentRef]:
    """The draft's files. A tip drafted before this step was shared kept each as a list
    [blob_id, kind, content_type, size]; such a draft is deleted once idle."""
    return [
        AttachmentRef(**f) if isinstance(f, dict) else AttachmentRef(*f)
        for f in data.get("files", [])
    ]
