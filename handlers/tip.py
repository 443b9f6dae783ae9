"""Corruption tip: an honest notice, anonymous or confidential, then what/who/where/when.

Everything said is sealed for investigators and the recovery key (bot/sealed_tips.py); the
bot keeps no key that opens it. An anonymous tip is stored with no sender (`TipStore.add`
has no parameter for one); the session is deleted on submit, the draft's files leave the
disk, and the tipster leaves with a 16-digit receipt, which is not stored at all: a key
derived from it opens the tip for them. A confidential tip also seals the contact, for
investigators only; the tipster gets a reference, the deadline and a receipt.

```mermaid
stateDiagram-v2
    [*] --> notice: data {"prefill": {region, subject, category, what}} optional
    notice --> notice: tip:more (what anonymous and confidential mean, in full)
    notice --> what: tip:anon, tip:conf
    what --> what_more: text of 20+ characters (handlers/description.py)
    what_more --> what_more: more text is appended (Telegram splits long texts)
    what_more --> what: "Start over"
    what_more --> who: "Continue"
    what --> who: more:keep for carried-over text (typed text is added to it)
    who --> where: body:CODE or typed (skipped when carried over)
    where --> when: reg:CODE (skipped when carried over)
    when --> amount: text, or tip:skip
    amount --> evidence: a sum ("150 000 тг"), or tip:skip
    evidence --> evidence: files, up to MAX_ATTACHMENTS (handlers/evidence.py), ev:clear
    evidence --> contact: ev:done / ev:skip (confidential)
    evidence --> summary: ev:done / ev:skip (anonymous)
    contact --> summary: typed name and phone, or tip:chat
    summary --> edit: tip:edit
    edit --> summary: ed:FIELD, that step, then back here
    summary --> summary: tip:cancel asks first; tip:back
    summary --> [*]: tip:ok (receipt, or reference), tip:drop
```

Data keys: privacy, what, who, body, region, when, amount, category, files, contact,
contact_chat, carried (fields taken over from another flow), editing, noticed (the notice
was shown in full).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot import sealed_tips
from bot.amount import parse_amount
from bot.domain import Inbound, Reply
from bot.errors import UserInputError
from bot.flow import (
    BUTTONS_ONLY,
    FREE_TEXT,
    TEXT_OR_BUTTONS,
    Context,
    Flow,
    Go,
)
from bot.reference import format_receipt, new_receipt, new_reference
from bot.storage.tips import ANONYMOUS, CONFIDENTIAL, day_of
from bot.workdays import add_working_days
from handlers import description, discard, evidence
from handlers.pickers import add_region_step, require_letters

FLOW = Flow(
    "tip",
    entry="notice",
    menu_title="tip.menu",
    menu_order=30,
    sensitive=True,
    resume="tip.resume",
)

WHAT_MIN, WHAT_MAX = 20, 4000
SHORT_MAX = 300
_ORDER = ("notice", "what", "who", "where", "when", "amount", "evidence", "contact", "summary")
_EDITABLE = ("privacy", "what", "who", "where", "when", "amount", "evidence", "contact")
_STATE_OF = {"privacy": "notice"}


def _clean(text: str) -> str:
    """Trim; keep the citizen's own line breaks and characters, markup included, verbatim."""
    return text.strip()


def _next(ctx: Context, current: str) -> Go:
    """The following step; while editing, back to the summary (via contact if now needed)."""
    confidential = ctx.data.get("privacy") == CONFIDENTIAL
    needs_contact = confidential and not (ctx.data.get("contact") or ctx.data.get("contact_chat"))
    if ctx.data.get("editing"):
        return Go(state="contact" if needs_contact and current != "contact" else "summary")
    carried = set(ctx.data.get("carried", ()))
    for state in _ORDER[_ORDER.index(current) + 1 :]:
        if (state == "who" and "who" in carried) or (state == "where" and "region" in carried):
            continue
        if state == "contact" and not confidential:
            continue
        return Go(state=state)
    return Go(state="summary")


def _take_prefill(ctx: Context) -> None:
    """Adopt what another flow already learned; drop anything that does not check out."""
    prefill = ctx.data.pop("prefill", None)
    if not isinstance(prefill, dict):
        return
    carried = []
    region = prefill.get("region")
    if isinstance(region, str) and ctx.refdata.region(region) is not None:
        ctx.data["region"] = region
        carried.append("region")
    subject = prefill.get("subject")
    if isinstance(subject, str) and subject.strip():
        if ctx.refdata.body(subject) is not None:
            ctx.data["body"] = subject
        else:
            ctx.data["who"] = _clean(subject)[:SHORT_MAX]
        carried.append("who")
    category = prefill.get("category")
    if isinstance(category, str) and ctx.refdata.category(category) is not None:
        ctx.data["category"] = category
        carried.append("category")
    what = prefill.get("what")
    if isinstance(what, str) and what.strip():
        ctx.data["what"] = _clean(what)[:WHAT_MAX]
        carried.append("what")
    ctx.data["carried"] = carried


# notice --------------------------------------------------------------------------------


@FLOW.prompt("notice")
async def ask_notice(ctx: Context) -> list[Reply]:
    replies = []
    if "prefill" in ctx.data:
        _take_prefill(ctx)
        if ctx.data.get("carried"):
            lines = [ctx.t("tip.carried")]
            lines += summary_lines(ctx, only=set(ctx.data["carried"]))
            replies.append(Reply("\n".join(lines)))
    buttons = (
        ctx.button("tip.choose_anonymous", "tip:anon"),
        ctx.button("tip.choose_confidential", "tip:conf"),
        ctx.button("tip.more", "tip:more"),
        *ctx.nav(back=bool(ctx.data.get("editing"))),
    )
    # The notice in full once; asked again (help, a wrong answer, an edit), one line will do.
    choose = ctx.t("tip.choose")
    if ctx.data.get("noticed"):
        replies.append(Reply(f"{ctx.t('tip.notice_reminder')}\n\n{choose}", buttons))
        return replies
    ctx.data["noticed"] = True
    replies += [Reply(ctx.t("tip.notice")), Reply(choose, buttons)]
    return replies


@FLOW.on("notice", accepts=BUTTONS_ONLY)
async def on_notice(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:more":
        return Go(state="notice", say=(Reply(ctx.t("tip.notice_more")),))
    choice = {"tip:anon": ANONYMOUS, "tip:conf": CONFIDENTIAL}.get(msg.payload or "")
    if choice is None:
        raise UserInputError("input.use_buttons")
    ctx.data["privacy"] = choice
    if choice == ANONYMOUS:
        ctx.data.pop("contact", None)
        ctx.data.pop("contact_chat", None)
    return _next(ctx, "notice")


# what (handlers/description.py) ---------------------------------------------------------

description.add_step(
    FLOW,
    "what",
    description.Wording(
        ask="tip.ask_what",
        too_short="tip.what_short",
        too_long="tip.too_long",
        more="tip.ask_more",
        go_on="tip.continue",
        start_over="tip.start_over",
        again="tip.ask_what_again",
        keep="tip.keep",
        replace="tip.ask_what_replace",
    ),
    key="what",
    more="what_more",
    minimum=WHAT_MIN,
    limit=WHAT_MAX,
    then=lambda ctx: _next(ctx, "what"),
)


# who -----------------------------------------------------------------------------------


@FLOW.prompt("who")
async def ask_who(ctx: Context) -> Reply:
    buttons = [ctx.named_button(b, f"body:{b.code}") for b in ctx.refdata.bodies]
    return Reply(ctx.t("tip.ask_who"), (*buttons, *ctx.nav()))


@FLOW.on("who")
async def on_who(msg: Inbound, ctx: Context) -> Go:
    if msg.payload is not None:
        code = msg.payload.removeprefix("body:")
        if ctx.refdata.body(code) is None:
            raise UserInputError("input.use_buttons")
        ctx.data["body"], ctx.data["who"] = code, None
        return _next(ctx, "who")
    text = _clean(msg.text)
    if len(text) < 2 or len(text) > SHORT_MAX:
        raise UserInputError("tip.who_length", max=SHORT_MAX)
    require_letters(text)
    ctx.data["body"], ctx.data["who"] = None, text
    return _next(ctx, "who")


# where ---------------------------------------------------------------------------------


add_region_step(FLOW, "where", "tip.ask_where", then=lambda ctx: _next(ctx, "where"))


# when ----------------------------------------------------------------------------------


@FLOW.prompt("when")
async def ask_when(ctx: Context) -> Reply:
    return Reply(ctx.t("tip.ask_when"), (ctx.button("tip.skip", "tip:skip"), *ctx.nav()))


@FLOW.on("when", accepts=TEXT_OR_BUTTONS | {FREE_TEXT})
async def on_when(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:skip":
        ctx.data["when"] = None
        return _next(ctx, "when")
    text = _clean(msg.text)
    if len(text) > 200:
        raise UserInputError("tip.when_long", max=200)
    ctx.data["when"] = text
    return _next(ctx, "when")


# amount --------------------------------------------------------------------------------


@FLOW.prompt("amount")
async def ask_amount(ctx: Context) -> Reply:
    return Reply(ctx.t("tip.ask_amount"), (ctx.button("tip.skip", "tip:skip"), *ctx.nav()))


@FLOW.on("amount", accepts=TEXT_OR_BUTTONS | {FREE_TEXT})
async def on_amount(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:skip":
        ctx.data["amount"] = None
        return _next(ctx, "amount")
    amount = parse_amount(msg.text)
    if amount is None:
        raise UserInputError("tip.amount_bad")
    ctx.data["amount"] = amount
    return _next(ctx, "amount")


# evidence ------------------------------------------------------------------------------

evidence.add_step(
    FLOW,
    "evidence",
    evidence.Wording(
        ask="tip.ask_evidence",
        so_far="tip.files_so_far",
        skip="tip.no_files",
        done="tip.files_done",
        clear="tip.files_clear",
    ),
    then=lambda ctx: _next(ctx, "evidence"),
)


# contact (confidential only) -----------------------------------------------------------


@FLOW.prompt("contact")
async def ask_contact(ctx: Context) -> Reply:
    buttons = (ctx.button("tip.contact_chat", "tip:chat"), *ctx.nav())
    return Reply(ctx.t("tip.ask_contact"), buttons)


@FLOW.on("contact")
async def on_contact(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:chat":
        ctx.data["contact"], ctx.data["contact_chat"] = None, True
        return _next(ctx, "contact")
    text = _clean(msg.text)
    if len(text) < 5 or len(text) > SHORT_MAX:
        raise UserInputError("tip.contact_length", max=SHORT_MAX)
    ctx.data["contact"], ctx.data["contact_chat"] = text, False
    return _next(ctx, "contact")


# the summary ---------------------------------------------------------


def summary_lines(ctx: Context, *, only: set[str] | None = None) -> list[str]:
    """One line per field of the draft (each a whole catalog message), in the flow's order."""
    data, t = ctx.data, ctx.t
    lines: dict[str, str] = {}
    privacy = data.get("privacy")
    if privacy:
        lines["privacy"] = t(f"tip.sum_{privacy}")
    if data.get("what"):
        lines["what"] = t("tip.sum_what", text=description.preview(data["what"]))
    body = ctx.refdata.body(data["body"]) if data.get("body") else None
    if body is not None or data.get("who"):
        lines["who"] = t("tip.sum_who", who=body.name(ctx.lang) if body else data["who"])
    region = ctx.refdata.region(data["region"]) if data.get("region") else None
    if region is not None:
        lines["region"] = t("tip.sum_where", region=region.name(ctx.lang))
    category = ctx.refdata.category(data["category"]) if data.get("category") else None
    if category is not None:
        lines["category"] = t("tip.sum_service", service=category.name(ctx.lang))
    if privacy:
        when = data.get("when")
        lines["when"] = t("tip.sum_when", when=when) if when else t("tip.sum_when_none")
        amount = data.get("amount")
        lines["amount"] = (
            t("tip.sum_amount", amount=t.number(amount)) if amount else t("tip.sum_amount_none")
        )
        files = len(data.get("files", []))
        lines["files"] = t.ngettext("tip.sum_files", "tip.sum_files", files)
    if privacy == CONFIDENTIAL:
        contact = data.get("contact")
        lines["contact"] = (
            t("tip.sum_contact", contact=contact) if contact else t("tip.sum_contact_chat")
        )
    return [line for key, line in lines.items() if only is None or key in only]


# summary and edit ----------------------------------------------------------------------


@FLOW.prompt("summary")
async def ask_summary(ctx: Context) -> Reply:
    ctx.data["editing"] = False
    lines = [ctx.t("tip.summary_title"), *summary_lines(ctx), "", ctx.t("tip.ask_confirm")]
    buttons = (
        ctx.button("tip.confirm", "tip:ok"),
        ctx.button("tip.edit", "tip:edit"),
        ctx.button("tip.cancel", "tip:cancel"),
    )
    return Reply("\n".join(lines), buttons)


@FLOW.on("summary", accepts=BUTTONS_ONLY)
async def on_summary(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:edit":
        return Go(state="edit")
    if msg.payload == "tip:cancel":
        return Go(
            state="summary", ask=False, say=(discard.ask(ctx, yes="tip:drop", no="tip:back"),)
        )
    if msg.payload == "tip:drop":
        return Go(state=None, forget=True, say=(Reply(ctx.t("tip.cancelled")),))
    if msg.payload == "tip:back":
        return Go(state="summary")
    if msg.payload != "tip:ok":
        raise UserInputError("input.use_buttons")
    if ctx.data.get("privacy") == ANONYMOUS:
        return await _submit_anonymous(ctx)
    return await _submit_confidential(ctx)


@FLOW.prompt("edit")
async def ask_edit(ctx: Context) -> Reply:
    fields = [f for f in _EDITABLE if f != "contact" or ctx.data.get("privacy") == CONFIDENTIAL]
    buttons = [ctx.button(f"tip.edit_{f}", f"ed:{f}") for f in fields]
    return Reply(ctx.t("tip.ask_edit"), (*buttons, ctx.back_button()))


@FLOW.on("edit", accepts=BUTTONS_ONLY)
async def on_edit(msg: Inbound, ctx: Context) -> Go:
    field = (msg.payload or "").removeprefix("ed:")
    if field not in _EDITABLE:
        raise UserInputError("input.use_buttons")
    ctx.data["editing"] = True
    return Go(state=_STATE_OF.get(field, field))


# submit --------------------------------------------------------------------------------


_FIELDS = ("what", "who", "body", "region", "when", "amount", "category", "carried")


async def _fresh_reference(ctx: Context) -> str:
    reference = new_reference()
    while await ctx.tx.tickets.reference_exists(reference):
        reference = new_reference()
    return reference


async def _file(
    ctx: Context,
    *,
    privacy: str,
    due: date,
    receipt: str,
    identity: dict[str, Any] | None,
) -> str:
    """Seal the tip for its readers and store it; returns the reference. The draft's files
    move into the sealed tip and leave the disk once the step commits."""
    reference = await _fresh_reference(ctx)
    stored = evidence.files(ctx.data)
    files = []
    if ctx.files is not None:
        for ref in stored:
            if ctx.files.exists(ref.blob_id):
                files.append((ref.kind, ref.content_type, await ctx.files.aget(ref.blob_id)))
    sealed = await sealed_tips.seal_tip(
        reference=reference,
        contents={key: ctx.data.get(key) for key in _FIELDS},
        identity=identity,
        files=files,
        recipients=await ctx.tx.tips.recipients(),
        receipt=receipt,
    )
    await ctx.tx.tips.add(
        sealed,
        privacy=privacy,
        locale=ctx.lang,
        due_on=due,
        reference=reference,
        now=ctx.now,
    )
    ctx.discard += [ref.blob_id for ref in stored]
    # Not in ctx.created, so not counted: a live counter on an open endpoint would date
    # each tip to the second, which the day-precision storage of tips exists to prevent.
    return reference


def _due(ctx: Context) -> date:
    """The deadline counts from the UTC day that is stored, so it reveals no finer time
    (a date in Almaty would tell the last hours of a UTC day from the rest)."""
    day = day_of(ctx.now).date()
    return add_working_days(day, ctx.settings.appeal_working_days, ctx.refdata.days_off)


async def _submit_anonymous(ctx: Context) -> Go:
    receipt = new_receipt()
    due = _due(ctx)
    await _file(ctx, privacy=ANONYMOUS, due=due, receipt=receipt, identity=None)
    done = ctx.t("tip.done_anonymous", receipt=format_receipt(receipt), date=ctx.t.date(due))
    return Go(state=None, forget=True, say=(Reply(done),))


async def _submit_confidential(ctx: Context) -> Go:
    receipt = new_receipt()
    due = _due(ctx)
    # The chat is known only inside the sealed identity: no hash of it is stored, so a
    # copy of the database with DATA_KEY cannot tell which chat filed the tip.
    identity = {
        "channel": ctx.citizen.channel,
        "chat_key": ctx.citizen.chat_key,
        "contact": ctx.data.get("contact"),
        "reach_in_chat": bool(ctx.data.get("contact_chat")),
    }
    reference = await _file(
        ctx,
        privacy=CONFIDENTIAL,
        due=due,
        receipt=receipt,
        identity=identity,
    )
    done = ctx.t(
        "tip.done_confidential",
        reference=reference,
        receipt=format_receipt(receipt),
        date=ctx.t.date(due),
    )
    return Go(state=None, forget=True, say=(Reply(done),))
