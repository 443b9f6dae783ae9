"""Welcome, language choice and the main menu.

```mermaid
stateDiagram-v2
    [*] --> language: first contact
    language --> main: a language is chosen
    main --> language: "Language"
    main --> main: "Help"; an answer to staff who wait for one (handlers/answer.py)
    main --> [*]: a flow is chosen (complaint, feedback, tip, status, subscription)
```
"""

from __future__ import annotations

from bot.domain import Button, Inbound, Reply
from bot.flow import (
    BUTTONS_ONLY,
    HOME,
    PICK_LANGUAGE,
    Context,
    Flow,
    Go,
)
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, pick_language
from handlers import answer
from handlers.main_choice import FLOW_PAYLOAD_PREFIX, HELP, LANGUAGE, MENU, choose

FLOW = Flow(MENU, entry="main")

_LANGUAGE_ALIASES = {
    "kk": ("kk", "kaz", "kazakh", "қазақ", "қазақ тілі", "казахский"),
    "ru": ("ru", "rus", "russian", "орыс", "орысша", "русский язык"),
    "en": ("en", "eng", "english", "ағылшын", "английский"),
}


@FLOW.prompt("language")
async def ask_language(ctx: Context) -> Reply:
    # Preselect: the platform's language hint (or the citizen's current choice) comes first.
    first = ctx.lang
    ordered = [first, *(lang for lang in LANGUAGES if lang != first)]
    buttons = tuple(
        Button(
            f"lang:{lang}", LANGUAGE_NAMES[lang], (LANGUAGE_NAMES[lang], *_LANGUAGE_ALIASES[lang])
        )
        for lang in ordered
    )
    return Reply(ctx.t("language.prompt"), buttons)


@FLOW.on("language", accepts=BUTTONS_ONLY, role=PICK_LANGUAGE)
async def on_language(msg: Inbound, ctx: Context) -> Go:
    lang = (msg.payload or "").removeprefix("lang:")
    if lang not in LANGUAGES:
        lang = pick_language(lang, ctx.lang)
    first_time = ctx.citizen.locale is None
    ctx.citizen.locale = lang
    t = ctx.catalogs[lang]
    note = t("menu.welcome", **ctx.refdata.agency.about(lang)) if first_time else t("language.set")
    return Go(state="main", say=(Reply(note),))


@FLOW.prompt("main")
async def ask_main(ctx: Context) -> list[Reply]:
    replies = []
    if ctx.data.pop("welcome", False):
        replies.append(Reply(ctx.t("menu.welcome", **ctx.refdata.agency.about(ctx.lang))))
    entries = sorted(
        (flow for flow in ctx.flows.values() if flow.menu_title),
        key=lambda flow: flow.menu_order,
    )
    buttons = [
        ctx.button(flow.menu_title or "", f"{FLOW_PAYLOAD_PREFIX}{flow.name}") for flow in entries
    ]
    buttons += [ctx.button("menu.language", LANGUAGE), ctx.button("menu.help", HELP)]
    replies.append(Reply(ctx.t("menu.title"), tuple(buttons)))
    return replies


@FLOW.on("main", accepts=answer.FREE_INPUT, role=HOME)
async def on_main(msg: Inbound, ctx: Context) -> Go:
    if msg.payload is None:
        # Not a choice: an answer if staff wait for one, else "choose an option" as ever.
        return await answer.take(msg, ctx)
    # "3" typed while staff wait for an answer may be either: asked, never guessed.
    return await answer.typed_number(msg, ctx) or choose(msg.payload, ctx)
