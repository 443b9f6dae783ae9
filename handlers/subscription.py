"""Campaign news: subscribe or unsubscribe, and choose the regions whose news to receive.

The choice lives on the citizen (`subscribed`, `sub_regions`: region codes, empty = all of
Kazakhstan; `region`: home region), which the dispatcher saves after every step. The
words unsubscribe/subscribe (отписаться/подписаться, жазылымнан бас тарту/жазылу, and
STOP in capitals: bot/commands.py) work from any step without this flow; the status
screen says so.

```mermaid
stateDiagram-v2
    [*] --> status
    status --> regions: sub:on (subscribed), sub:regions
    status --> [*]: sub:off (unsubscribed)
    regions --> regions: rg:CODE toggles ✅, rg:all clears the marks
    regions --> home: rg:done (subscribes), one region marked and no home region yet
    regions --> status: rg:done (subscribes)
    home --> status: home:yes (saved as home region), home:no
```
"""

from __future__ import annotations

from bot.domain import Button, Inbound, Reply
from bot.errors import UserInputError
from bot.flow import BUTTONS_ONLY, Context, Flow, Go
from bot.subscriptions import set_news

FLOW = Flow("subscription", entry="status", menu_title="subscription.menu", menu_order=50)

CHECK = "✅ "
PICKED = "picked"


# -- status -------------------------------------------------------------------------------


@FLOW.prompt("status")
async def ask_status(ctx: Context) -> Reply:
    citizen = ctx.citizen
    if not citizen.subscribed:
        status = ctx.t("subscription.status_off")
        toggle = ctx.button("subscription.subscribe", "sub:on")
    elif citizen.sub_regions:
        regions = ctx.refdata.region_names(citizen.sub_regions, ctx.lang)
        status = ctx.t("subscription.status_regions", regions=regions)
        toggle = ctx.button("subscription.unsubscribe", "sub:off")
    else:
        status = ctx.t("subscription.status_all")
        toggle = ctx.button("subscription.unsubscribe", "sub:off")
    text = "\n\n".join((status, ctx.t("subscription.words")))
    choose = ctx.button("subscription.choose_regions", "sub:regions")
    return Reply(text, (toggle, choose, *ctx.nav(back=False)))


@FLOW.on("status", accepts=BUTTONS_ONLY)
async def on_status(msg: Inbound, ctx: Context) -> Go:
    if msg.payload == "sub:on":
        ctx.citizen.subscribed, ctx.citizen.news_chosen_at = True, ctx.now
        ctx.data.pop(PICKED, None)
        return Go(state="regions", say=(ctx.reply("subscription.subscribed"),))
    if msg.payload == "sub:off":
        stopped = set_news(ctx.citizen, False, ctx.t, ctx.refdata, now=ctx.now)
        return Go(state=None, say=(Reply(stopped),))
    if msg.payload == "sub:regions":
        ctx.data.pop(PICKED, None)
        return Go(state="regions")
    raise UserInputError("input.use_buttons")


# -- regions ------------------------------------------------------------------------------


@FLOW.prompt("regions")
async def ask_regions(ctx: Context) -> Reply:
    # The marks being edited live in the session until Done, starting from the saved ones.
    picked = set(ctx.data.setdefault(PICKED, list(ctx.citizen.sub_regions)))
    everywhere = ctx.button("subscription.all_regions", "rg:all")
    buttons = [_marked(everywhere, not picked)]
    for region in ctx.refdata.regions_in(ctx.lang):
        button = ctx.named_button(region, f"rg:{region.code}")
        buttons.append(_marked(button, region.code in picked))
    buttons.append(ctx.button("subscription.done", "rg:done"))
    return Reply(ctx.t("subscription.ask_regions"), (*buttons, *ctx.nav()))


@FLOW.on("regions", accepts=BUTTONS_ONLY)
async def on_regions(msg: Inbound, ctx: Context) -> Go:
    picked: list[str] = list(ctx.data.get(PICKED, ctx.citizen.sub_regions))
    payload = msg.payload or ""
    if payload == "rg:done":
        return _save_regions(ctx, picked)
    if payload == "rg:all":
        ctx.data[PICKED] = []
        return Go(state="regions")
    code = payload.removeprefix("rg:")
    if not payload.startswith("rg:") or ctx.refdata.region(code) is None:
        raise UserInputError("input.use_buttons")
    if code in picked:
        picked.remove(code)
    else:
        picked.append(code)
    ctx.data[PICKED] = picked
    return Go(state="regions")


def _save_regions(ctx: Context, picked: list[str]) -> Go:
    """Save the marks. Choosing regions from the news menu is asking for their news, so an
    unsubscribed citizen is subscribed too, and told so (issue 15)."""
    # Stored in the order of data/regions.json, so the status lists them the same way.
    codes = tuple(r.code for r in ctx.refdata.regions if r.code in picked)
    ctx.citizen.sub_regions = codes
    ctx.data.pop(PICKED, None)
    subscribing = not ctx.citizen.subscribed
    ctx.citizen.subscribed, ctx.citizen.news_chosen_at = True, ctx.now
    saved = ctx.reply("subscription.saved_subscribed" if subscribing else "subscription.saved")
    if len(codes) == 1 and ctx.citizen.region is None:
        ctx.data["home"] = codes[0]
        return Go(state="home", say=(saved,))
    return Go(state="status", say=(saved,))


# -- home region --------------------------------------------------------------------------


@FLOW.prompt("home")
async def ask_home(ctx: Context) -> Reply:
    region = ctx.refdata.region(ctx.data.get("home") or "")
    name = region.name(ctx.lang) if region else ""
    yes = ctx.button("subscription.home_yes", "home:yes")
    no = ctx.button("subscription.home_no", "home:no")
    return Reply(ctx.t("subscription.ask_home", region=name), (yes, no, *ctx.nav()))


@FLOW.on("home", accepts=BUTTONS_ONLY)
async def on_home(msg: Inbound, ctx: Context) -> Go:
    code = ctx.data.get("home") or ""
    if msg.payload == "home:yes" and ctx.refdata.region(code):
        ctx.citizen.region = code
        ctx.data.pop("home")
        return Go(state="status", say=(ctx.reply("subscription.home_saved"),))
    if msg.payload == "home:no":
        ctx.data.pop("home", None)
        return Go(state="status")
    raise UserInputError("input.use_buttons")


def _marked(button: Button, on: bool) -> Button:
    return Button(button.payload, CHECK + button.label, button.aliases) if on else button
