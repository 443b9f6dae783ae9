"""Service-quality feedback: which service, where, a rating from 1 to 5, what went wrong.

Every rating becomes a row in `ratings` for statistics; a rating of 1 or 2 also files a
"feedback" ticket for staff, whose reference and deadline the thanks message carries. A
citizen who says a bribe was demanded is offered the corruption-tip flow afterwards, with
what is already known carried over (see `_prefill`).

```mermaid
stateDiagram-v2
    [*] --> category
    category --> region: cat:CODE
    region --> centre: reg:CODE
    centre --> rating: name typed, or fb:skip
    rating --> comment: r:4, r:5
    rating --> reasons: r:1 .. r:3
    reasons --> reasons: why:CODE toggles ✅
    reasons --> comment: fb:done (one reason at least)
    comment --> comment: fb:skip refused when "other" alone says nothing for a ticket
    comment --> keep_out: a comment on a demanded bribe, ticket to be filed (1-2)
    keep_out --> tip_offer: ko:out (the comment goes to the tip only) / ko:in (in the ticket)
    comment --> [*]: text or fb:skip; rating stored, ticket filed for 1-2
    comment --> tip_offer: "a bribe was demanded" was among the reasons
    tip_offer --> tip: tip:yes (flow "tip", data {"prefill": ...})
    tip_offer --> [*]: tip:no
```

The offer to report corruption comes after the comment, not when the reason is ticked:
by then the rating is stored and the comment can fill the tip's "what happened", so
nothing said so far is lost and the citizen is not pulled out mid-answer. A low rating files
a ticket under the citizen's name, so before a bribe comment goes into it the citizen is
warned and may keep it out of that ticket, for the anonymous report only.
"""

from __future__ import annotations

from bot.domain import Button, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import BUTTONS_ONLY, SUBMITTED, TEXT_OR_BUTTONS, Context, Flow, Go
from bot.storage.records import RatingRecord, TicketDraft
from bot.tickets import file_ticket
from handlers.pickers import add_region_step

FLOW = Flow(
    "feedback",
    entry="category",
    menu_title="feedback.menu",
    menu_order=20,
    resume="feedback.resume",
)

REASONS = ("wait", "rude", "bribe", "wrong", "lost", "other")
BRIBE = "bribe"
OTHER = "other"
CENTRE_MAX = 200
COMMENT_MAX = 2000
TICKET_AT_OR_BELOW = 2
REASONS_AT_OR_BELOW = 3
TIP_FLOW = "tip"
CHECK = "✅ "
STAR = "⭐"


# -- category -----------------------------------------------------------------------------


@FLOW.prompt("category")
async def ask_category(ctx: Context) -> Reply:
    buttons = [ctx.named_button(c, f"cat:{c.code}") for c in ctx.refdata.categories]
    return Reply(ctx.t("feedback.ask_category"), (*buttons, *ctx.nav(back=False)))


@FLOW.on("category", accepts=BUTTONS_ONLY)
async def on_category(msg: Inbound, ctx: Context) -> Go:
    code = _payload(msg, "cat:")
    if ctx.refdata.category(code) is None:
        raise UserInputError("input.use_buttons")
    ctx.data["category"] = code
    return Go(state="region")


# -- region and centre --------------------------------------------------------------------


add_region_step(FLOW, "region", "feedback.ask_region", then=lambda ctx: Go(state="centre"))


@FLOW.prompt("centre")
async def ask_centre(ctx: Context) -> Reply:
    skip = ctx.button("feedback.skip", "fb:skip")
    return Reply(ctx.t("feedback.ask_centre", limit=CENTRE_MAX), (skip, *ctx.nav()))


@FLOW.on("centre", accepts=TEXT_OR_BUTTONS)
async def on_centre(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "fb:skip":
        ctx.data["centre"] = None
        return Go(state="rating")
    if msg.payload is not None:
        raise UserInputError("input.use_buttons")
    centre = " ".join(msg.text.split())
    if len(centre) > CENTRE_MAX:
        raise UserInputError("feedback.centre_too_long", n=len(centre), limit=CENTRE_MAX)
    ctx.data["centre"] = centre
    return Go(state="rating")


# -- rating -------------------------------------------------------------------------------


@FLOW.prompt("rating")
async def ask_rating(ctx: Context) -> Reply:
    # No Back/Menu buttons here, on purpose: a typed digit means a rating, so 1-5 must be
    # the only numbered options and "6" can be refused. The words back/menu/0 still work.
    return Reply(ctx.t("feedback.ask_rating"), tuple(_rating_button(ctx, n) for n in range(1, 6)))


def _rating_button(ctx: Context, n: int) -> Button:
    """A label such as "4 ⭐⭐⭐⭐ — good"; "good", "хорошо" or "жақсы" alone also picks it."""
    label = ctx.button(f"feedback.rate.{n}", f"r:{n}")
    words = ctx.catalogs.every_language(f"feedback.rate_word.{n}")
    return Button(label.payload, label.label, (*label.aliases, *words))


@FLOW.on("rating", accepts=TEXT_OR_BUTTONS)
async def on_rating(msg: Inbound, ctx: Context) -> Go:
    rating = _parse_rating(msg)
    ctx.data["rating"] = rating
    if rating <= REASONS_AT_OR_BELOW:
        ctx.data.setdefault("reasons", [])
        return Go(state="reasons")
    ctx.data["reasons"] = []
    return Go(state="comment")


def _parse_rating(msg: Inbound) -> int:
    if msg.payload is not None:
        value = _payload(msg, "r:")
        if value not in {"1", "2", "3", "4", "5"}:
            raise UserInputError("feedback.rating_range")
        return int(value)
    text = "".join(msg.text.split())
    if text and set(text) == {STAR}:  # "⭐⭐⭐" typed by hand
        stars = len(text)
        if stars > 5:
            raise UserInputError("feedback.rating_range")
        return stars
    if text.lstrip("+-").isdigit():
        raise UserInputError("feedback.rating_range")
    raise UserInputError("feedback.rating_pick")


# -- reasons (ratings of 3 or less) -------------------------------------------------------


@FLOW.prompt("reasons")
async def ask_reasons(ctx: Context) -> Reply:
    chosen = set(ctx.data.get("reasons", []))
    buttons = []
    for code in REASONS:
        plain = ctx.button(f"feedback.reason.{code}", f"why:{code}")
        label = CHECK + plain.label if code in chosen else plain.label
        buttons.append(Button(plain.payload, label, plain.aliases))
    buttons.append(ctx.button("feedback.done", "fb:done"))
    return Reply(ctx.t("feedback.ask_reasons"), (*buttons, *ctx.nav()))


@FLOW.on("reasons", accepts=BUTTONS_ONLY)
async def on_reasons(msg: Inbound, ctx: Context) -> Go:
    chosen: list[str] = list(ctx.data.get("reasons", []))
    if msg.payload == "fb:done":
        if not chosen:
            raise UserInputError("feedback.reasons_none")
        return Go(state="comment")
    code = _payload(msg, "why:")
    if code not in REASONS:
        raise UserInputError("input.use_buttons")
    if code in chosen:
        chosen.remove(code)
    else:
        chosen.append(code)
    # Kept in the order of the list, so the ticket reads the same however it was ticked.
    ctx.data["reasons"] = [c for c in REASONS if c in chosen]
    return Go(state="reasons")


# -- comment, then the rating is stored ---------------------------------------------------


@FLOW.prompt("comment")
async def ask_comment(ctx: Context) -> list[Reply]:
    replies = []
    if _named_bribe(ctx):
        replies.append(ctx.reply("feedback.bribe_warning"))
    if _comment_needed(ctx):
        replies.append(Reply(ctx.t("feedback.ask_comment_other", limit=COMMENT_MAX), ctx.nav()))
        return replies
    skip = ctx.button("feedback.skip", "fb:skip")
    replies.append(Reply(ctx.t("feedback.ask_comment", limit=COMMENT_MAX), (skip, *ctx.nav())))
    return replies


def _files_ticket(ctx: Context) -> bool:
    """A rating this low files a ticket under the citizen's name."""
    rating: int = ctx.data["rating"]
    return rating <= TICKET_AT_OR_BELOW


def _named_bribe(ctx: Context) -> bool:
    """A bribe was ticked and a ticket under the citizen's name is about to be filed."""
    return BRIBE in ctx.data["reasons"] and _files_ticket(ctx)


def _comment_needed(ctx: Context) -> bool:
    """A ticket whose only reason is "Other" would tell staff nothing without a comment."""
    return ctx.data["reasons"] == [OTHER] and _files_ticket(ctx)


@FLOW.on("comment", accepts=TEXT_OR_BUTTONS)
async def on_comment(msg: Inbound, ctx: Context) -> Go:
    if ctx.data.get(SUBMITTED):
        # Reached again with "back" from the offer below: never store a rating twice.
        return Go(state=None, say=(ctx.reply("feedback.already_stored"),))
    if msg.payload == "fb:skip" and not _comment_needed(ctx):
        comment = None
    elif msg.payload is not None:
        raise UserInputError("input.use_buttons")
    else:
        comment = msg.text.strip()
        if len(comment) > COMMENT_MAX:
            raise UserInputError("feedback.comment_too_long", n=len(comment), limit=COMMENT_MAX)
    ctx.data["comment"] = comment
    if comment and _named_bribe(ctx) and TIP_FLOW in ctx.flows:
        return Go(state="keep_out")
    return await _stored(ctx)


async def _stored(ctx: Context) -> Go:
    """Store the rating, thank, and offer the tip flow (or the hotline) after a bribe."""
    thanks = await _store(ctx)
    if BRIBE not in ctx.data["reasons"]:
        return Go(state=None, say=(thanks,))
    if TIP_FLOW not in ctx.flows:  # no tip flow installed: the hotline still works
        return Go(state=None, say=(thanks, ctx.reply("feedback.tip_hotline")))
    return Go(state="tip_offer", say=(thanks,))


# -- a bribe comment: in the named ticket, or for the anonymous report only -------------


@FLOW.prompt("keep_out")
async def ask_keep_out(ctx: Context) -> Reply:
    buttons = (
        ctx.button("feedback.keep_out", "ko:out"),
        ctx.button("feedback.keep_in", "ko:in"),
        *ctx.nav(),
    )
    return Reply(ctx.t("feedback.ask_keep_out"), buttons)


@FLOW.on("keep_out", accepts=BUTTONS_ONLY)
async def on_keep_out(msg: Inbound, ctx: Context) -> Go:
    if ctx.data.get(SUBMITTED):
        return Go(state=None, say=(ctx.reply("feedback.already_stored"),))
    if msg.payload not in ("ko:out", "ko:in"):
        raise UserInputError("input.use_buttons")
    ctx.data["withheld"] = msg.payload == "ko:out"
    return await _stored(ctx)


async def _store(ctx: Context) -> Reply:
    """Keep the rating (and file a ticket for 1-2); the thanks that says what happened."""
    data = ctx.data
    rating: int = data["rating"]
    reasons: list[str] = data["reasons"]
    ticket = None
    if _files_ticket(ctx):
        draft = TicketDraft(
            kind="feedback",
            locale=ctx.lang,
            citizen_id=ctx.citizen.id,
            channel=ctx.citizen.channel,
            category=data["category"],
            subject=data.get("centre"),
            region=data["region"],
            rating=rating,
            summary=None if data.get("withheld") else data.get("comment"),
            # Kept out means all of it: the bribe goes to the anonymous report only.
            details={"reasons": [r for r in reasons if r != BRIBE or not data.get("withheld")]},
        )
        ticket = await file_ticket(ctx, draft)
    record = RatingRecord(
        category=data["category"],
        rating=rating,
        locale=ctx.lang,
        centre=data.get("centre"),
        region=data["region"],
        reasons=tuple(reasons),
        ticket_id=ticket.id if ticket else None,
    )
    await ctx.tx.tickets.add_rating(record, now=ctx.now)
    data[SUBMITTED] = True
    if ticket is not None:
        assert ticket.due_on is not None
        data["reference"] = ticket.reference
        return ctx.reply(
            "feedback.thanks_ticket", reference=ticket.reference, due=ctx.t.date(ticket.due_on)
        )
    if rating <= REASONS_AT_OR_BELOW:
        return ctx.reply("feedback.thanks_low")
    return ctx.reply("feedback.thanks")


# -- the offer to report corruption -------------------------------------------------------


@FLOW.prompt("tip_offer")
async def ask_tip_offer(ctx: Context) -> Reply:
    """The offer says what the tip will take over, and only that (see `_prefill`)."""
    buttons = (ctx.button("feedback.tip_yes", "tip:yes"), ctx.button("feedback.tip_no", "tip:no"))
    carried = _prefill(ctx)["what"]
    if not ctx.data.get("reference"):  # no ticket under the citizen's name
        offer = "feedback.tip_offer" if carried else "feedback.tip_offer_no_comment"
    elif carried:
        offer = "feedback.tip_offer_named_withheld"
    elif ctx.data.get("comment"):
        offer = "feedback.tip_offer_comment_kept"
    else:
        offer = "feedback.tip_offer_named"
    return Reply(ctx.t(offer), buttons)


@FLOW.on("tip_offer", accepts=BUTTONS_ONLY)
async def on_tip_offer(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "tip:yes":
        return Go(flow=TIP_FLOW, data={"prefill": _prefill(ctx)})
    if msg.payload == "tip:no":
        return Go(state=None)
    raise UserInputError("input.use_buttons")


def _prefill(ctx: Context) -> dict[str, str | None]:
    """What the tip flow may take over: region and category codes, the centre, the comment.

    Nothing the citizen typed that is stored in a ticket under their name (the centre as
    they wrote it, a comment they did not keep out): the same words in an anonymous tip
    would tie the tip to that ticket, and so to the citizen.
    """
    named = bool(ctx.data.get("reference"))
    in_named_ticket = named and not ctx.data.get("withheld")
    return {
        "region": ctx.data.get("region"),
        "subject": None if named else ctx.data.get("centre"),
        "category": ctx.data.get("category"),
        "what": None if in_named_ticket else ctx.data.get("comment"),
    }


def _payload(msg: Inbound, prefix: str) -> str:
    payload = msg.payload or ""
    if not payload.startswith(prefix):
        raise UserInputError("input.use_buttons")
    return payload.removeprefix(prefix)
