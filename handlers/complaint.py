"""A formal complaint about a public service or an official, from category to reference.

```mermaid
stateDiagram-v2
    [*] --> category
    category --> body: a category
    body --> region: a body from the list, or typed
    region --> describe: a region (button or typed name)
    describe --> more: 30..4000 characters (handlers/description.py)
    more --> more: more text is appended (Telegram splits long texts)
    more --> describe: "Start over" (the text stays until a new one replaces it)
    more --> evidence: "Continue"
    evidence --> evidence: files or a location (handlers/evidence.py)
    evidence --> name: "Done" / "Skip"
    name --> iin: 2-4 words of letters, after the personal-data notice
    name --> [*]: "Report anonymously" (the tip flow, data {"prefill": what is known})
    iin --> summary: a valid IIN or "Skip"
    summary --> edit: "Edit a field"
    edit --> category: ...one field; its step returns straight to the summary
    summary --> summary: "Cancel" asks "delete everything?"; "No, go back"
    summary --> [*]: "Confirm" files the ticket / "Yes, delete"
```

Data keys: category, body, body_text, region, description, files (AttachmentRef fields as
dicts), location, name, iin, editing (set while one field is being changed), told_why (the
personal-data notice has been shown).
"""

from __future__ import annotations

import re
from typing import Any

from bot.domain import Button, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import BUTTONS_ONLY, Context, Flow, Go
from bot.i18n import TIMEZONE
from bot.iin import parse_iin
from bot.storage.records import TicketDraft
from bot.tickets import file_ticket
from handlers import description, discard, evidence
from handlers.pickers import add_region_step, require_letters

FLOW = Flow(
    "complaint",
    entry="category",
    menu_title="complaint.menu",
    menu_order=10,
    resume="complaint.resume",
)

MIN_TEXT = 30
OFFICIAL = "official_conduct"  # not a public service, so not in data/categories.json
_LETTERS = r"[A-Za-zÀ-ÖØ-öø-ɏЀ-ԯ]+"
_NAME = re.compile(rf"{_LETTERS}(?:[-'’ʼ]{_LETTERS})*")
_FIELDS = ("category", "body", "region", "describe", "evidence", "name", "iin")


def _next(ctx: Context, state: str) -> Go:
    """The following step, or straight back to the summary while a field is being edited."""
    return Go(state="summary" if ctx.data.get("editing") else state)


# category ------------------------------------------------------------------------------


@FLOW.prompt("category")
async def ask_category(ctx: Context) -> Reply:
    services = [c for c in ctx.refdata.categories if c.code != "other"]
    buttons = [ctx.named_button(c, f"cat:{c.code}") for c in services]
    buttons.append(ctx.button("complaint.cat_official", f"cat:{OFFICIAL}"))
    other = ctx.refdata.category("other")
    if other is not None:
        buttons.append(ctx.named_button(other, "cat:other"))
    back = bool(ctx.data.get("editing"))  # back to the list of fields
    return Reply(ctx.t("complaint.ask_category"), (*buttons, *ctx.nav(back=back)))


@FLOW.on("category", accepts=BUTTONS_ONLY)
async def on_category(msg: Inbound, ctx: Context) -> Go:
    ctx.data["category"] = (msg.payload or "").removeprefix("cat:")
    return _next(ctx, "body")


# body ----------------------------------------------------------------------------------


@FLOW.prompt("body")
async def ask_body(ctx: Context) -> Reply:
    buttons = [ctx.named_button(b, f"body:{b.code}") for b in ctx.refdata.bodies]
    return Reply(ctx.t("complaint.ask_body"), (*buttons, *ctx.nav()))


@FLOW.on("body")
async def on_body(msg: Inbound, ctx: Context) -> Go:
    if msg.payload is not None:
        ctx.data["body"], ctx.data["body_text"] = msg.payload.removeprefix("body:"), None
        return _next(ctx, "region")
    text = " ".join(msg.text.split())
    if len(text) < 2 or len(text) > 300:
        raise UserInputError("complaint.body_length")
    require_letters(text)
    ctx.data["body"], ctx.data["body_text"] = None, text
    return _next(ctx, "region")


# region --------------------------------------------------------------------------------


add_region_step(FLOW, "region", "complaint.ask_region", then=lambda ctx: _next(ctx, "describe"))


# description (handlers/description.py) ------------------------------------------------

description.add_step(
    FLOW,
    "describe",
    description.Wording(
        ask="complaint.ask_describe",
        too_short="complaint.too_short",
        too_long="complaint.too_long",
        more="complaint.ask_more",
        go_on="complaint.continue",
        start_over="complaint.start_over",
        replace="complaint.ask_describe_again",
    ),
    key="description",
    more="more",
    minimum=MIN_TEXT,
    then=lambda ctx: _next(ctx, "evidence"),
)


# evidence ------------------------------------------------------------------------------

evidence.add_step(
    FLOW,
    "evidence",
    evidence.Wording(
        ask="complaint.ask_evidence",
        so_far="complaint.evidence_count",
        skip="complaint.skip",
        done="complaint.done",
        clear="complaint.evidence_clear",
    ),
    then=lambda ctx: _next(ctx, "name"),
    location=True,
    keep_names=True,
)


# who is filing -------------------------------------------------------------------------


@FLOW.prompt("name")
async def ask_name(ctx: Context) -> list[Reply]:
    """Why a name is needed and the personal-data notice, in full the first time only:
    after a mistyped name, or when the name is edited, a one-line reminder will do."""
    buttons: list[Button] = []
    if "tip" in ctx.flows:
        buttons.append(ctx.button("complaint.go_tip", "who:tip"))
    question = ctx.t("complaint.ask_name")
    if ctx.data.get("told_why"):
        reminder = ctx.t("complaint.name_reminder")
        return [Reply(f"{reminder}\n\n{question}", (*buttons, *ctx.nav()))]
    ctx.data["told_why"] = True
    agency = ctx.refdata.agency
    years = agency.retention_years
    consent = ctx.t.ngettext(
        "complaint.consent", "complaint.consent", years, agency=agency.names[ctx.lang]
    )
    return [
        Reply(ctx.t("complaint.no_anonymous")),
        Reply(consent),
        Reply(question, (*buttons, *ctx.nav())),
    ]


@FLOW.on("name")
async def on_name(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "who:tip":
        return Go(flow="tip", data={"prefill": _prefill(ctx)})
    words = msg.text.split()
    # Four words: a Kazakh patronymic is often written apart ("Серік ұлы", "Ахмет қызы").
    if not 2 <= len(words) <= 4 or not all(_NAME.fullmatch(w) for w in words):
        raise UserInputError("complaint.bad_name")
    ctx.data["name"] = " ".join(words)
    return _next(ctx, "iin")


@FLOW.prompt("iin")
async def ask_iin(ctx: Context) -> Reply:
    return Reply(ctx.t("complaint.ask_iin"), (ctx.button("complaint.skip", "iin:skip"), *ctx.nav()))


@FLOW.on("iin")
async def on_iin(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "iin:skip":
        ctx.data["iin"] = None
    else:
        ctx.data["iin"] = parse_iin(msg.text, today=ctx.now.astimezone(TIMEZONE).date()).value
    return Go(state="summary")


# summary, edit, confirm ----------------------------------------------------------------


@FLOW.prompt("summary")
async def ask_summary(ctx: Context) -> list[Reply]:
    ctx.data.pop("editing", None)
    d = ctx.data
    region = ctx.refdata.region(d.get("region") or "")
    n_files = len(d.get("files", []))
    card = ctx.t(
        "complaint.summary",
        category=_category_name(ctx),
        body=_body_name(ctx),
        region=region.name(ctx.lang) if region else "—",
        evidence=ctx.t.ngettext("complaint.files", "complaint.files", n_files),
        location=ctx.t("complaint.yes") if d.get("location") else ctx.t("complaint.no"),
        name=d.get("name", ""),
        iin=d.get("iin") or "—",
    )
    # The description goes alone: up to 4,000 characters still fit one Telegram message.
    told = ctx.t("complaint.summary_text", description=d.get("description", ""))
    buttons = (
        ctx.button("complaint.confirm", "sum:ok"),
        ctx.button("complaint.edit", "sum:edit"),
        ctx.button("complaint.cancel", "sum:cancel"),
    )
    return [Reply(card), Reply(told), Reply(ctx.t("complaint.summary_ask"), buttons)]


@FLOW.on("summary", accepts=BUTTONS_ONLY)
async def on_summary(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "sum:edit":
        return Go(state="edit")
    if msg.payload == "sum:cancel":
        return Go(
            state="summary", ask=False, say=(discard.ask(ctx, yes="sum:drop", no="sum:back"),)
        )
    if msg.payload == "sum:drop":
        return Go(state=None, say=(Reply(ctx.t("nav.cancelled")),))
    if msg.payload == "sum:back":
        return Go(state="summary")
    d = ctx.data
    details: dict[str, Any] = {"applicant_name": d["name"]}
    if d.get("iin"):
        details["iin"] = d["iin"]
    if d.get("location"):
        details["location"] = d["location"]
    if d.get("body"):
        details["body"] = d["body"]
    draft = TicketDraft(
        kind="complaint",
        locale=ctx.lang,
        citizen_id=ctx.citizen.id,
        channel=ctx.citizen.channel,
        category=d["category"],
        subject=_body_name(ctx),
        region=d["region"],
        summary=d["description"],
        details=details,
        attachments=tuple(evidence.files(d)),
    )
    ticket = await file_ticket(ctx, draft)
    assert ticket.due_on is not None
    done = ctx.t("complaint.filed", reference=ticket.reference, due=ctx.t.date(ticket.due_on))
    return Go(state=None, say=(Reply(done),))


@FLOW.prompt("edit")
async def ask_edit(ctx: Context) -> Reply:
    buttons = [ctx.button(f"complaint.field_{f}", f"edit:{f}") for f in _FIELDS]
    return Reply(ctx.t("complaint.ask_edit"), (*buttons, ctx.back_button()))


@FLOW.on("edit", accepts=BUTTONS_ONLY)
async def on_edit(msg: Inbound, ctx: Context) -> Go:
    field = (msg.payload or "").removeprefix("edit:")
    ctx.data["editing"] = True
    return Go(state=field if field in _FIELDS else "summary")


def _category_name(ctx: Context) -> str:
    code = ctx.data.get("category") or ""
    if code == OFFICIAL:
        return ctx.t("complaint.cat_official")
    found = ctx.refdata.category(code)
    return found.name(ctx.lang) if found else code


def _body_name(ctx: Context) -> str:
    body = ctx.refdata.body(ctx.data.get("body") or "")
    return body.name(ctx.lang) if body else str(ctx.data.get("body_text") or "")


def _prefill(ctx: Context) -> dict[str, str | None]:
    """What the tip flow takes over, so that nothing typed so far has to be typed again."""
    d = ctx.data
    return {
        "category": d.get("category"),
        "region": d.get("region"),
        "subject": d.get("body") or d.get("body_text"),
        "what": d.get("description"),
    }
