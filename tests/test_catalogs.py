"""The catalogs are complete and consistent in Kazakh, Russian and English.

- no untranslated, fuzzy or obsolete entry in any .po;
- per domain, the three languages and the .pot carry the same message ids;
- placeholders ({name}) are the same in every translation and plural form;
- Kazakh is written in Cyrillic and is not Russian copied over;
- every message id the code uses (found by walking the AST of bot/ and handlers/) exists;
- locales/src/<domain>.toml regenerates exactly the committed .po and .pot files;
- the compiled catalogs the bot loads answer every message id;
- every option a flow offers fits a WhatsApp list item (24 characters), as its label or a
  short label, and the texts that turn a list's pages fit where they go.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import string
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.channels.whatsapp.content import MAX_DESCRIPTION, MAX_ITEM, list_item
from bot.domain import Button
from bot.i18n import LANGUAGES, Catalogs
from bot.refdata import default_data_dir, load_refdata
from handlers import feedback, subscription

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
DOMAINS = sorted(p.stem for p in LOCALES.glob("*.pot"))
MSGID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")

# Calls whose first string argument is a message id, and keywords whose value is one.
MSGID_CALLS = frozenset(
    {"t", "gettext", "ngettext", "reply", "button", "UserInputError", "_refuse", "has"}
)
MSGID_KEYWORDS = frozenset({"unsupported", "menu_title", "msgid"})
# Calls whose string arguments are names of their own (audit actions, ticket events,
# metric labels, loggers) even when shaped like a message id: "tip.view".
NOT_MSGID_CALLS = frozenset({"audit", "add_event", "labels", "getLogger"})


def read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=lang)


def po_path(lang: str, domain: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"


def entries(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple | list) else message.id


def forms(message: Message) -> list[str]:
    value = message.string
    return list(value) if isinstance(value, tuple | list) else [value]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.fixture(scope="module")
def catalogs_by_lang() -> dict[str, dict[str, Catalog]]:
    return {lang: {d: read(po_path(lang, d), lang) for d in DOMAINS} for lang in LANGUAGES}


def all_msgids() -> set[str]:
    return {key(m) for d in DOMAINS for m in entries(read(LOCALES / f"{d}.pot"))}


def test_there_are_catalogs() -> None:
    assert "messages" in DOMAINS
    for lang in LANGUAGES:
        found = sorted(p.stem for p in (LOCALES / lang / "LC_MESSAGES").glob("*.po"))
        assert found == DOMAINS, f"{lang}: {found} vs templates {DOMAINS}"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_no_missing_fuzzy_or_obsolete_entries(lang: str, domain: str) -> None:
    path = po_path(lang, domain)
    catalog = read(path, lang)
    problems = []
    for message in entries(catalog):
        if message.fuzzy:
            problems.append(f"fuzzy: {key(message)}")
        texts = forms(message)
        if not all(text.strip() for text in texts):
            problems.append(f"untranslated: {key(message)}")
        if message.pluralizable and len(texts) != catalog.num_plurals:
            problems.append(f"{key(message)}: {len(texts)} plural forms, not {catalog.num_plurals}")
    if catalog.obsolete:
        problems.append(f"obsolete: {sorted(catalog.obsolete)}")
    assert not problems, f"{path.relative_to(ROOT)}: {problems}"
    # A fuzzy flag written by hand is also caught when babel would hide it.
    raw = path.read_text(encoding="utf-8")
    assert "#, fuzzy" not in raw.split('msgid "', 2)[-1], f"{path}: fuzzy entry"


@pytest.mark.parametrize("domain", DOMAINS)
def test_languages_and_template_have_the_same_ids(
    domain: str, catalogs_by_lang: dict[str, dict[str, Catalog]]
) -> None:
    template = {key(m): m.pluralizable for m in entries(read(LOCALES / f"{domain}.pot"))}
    assert template, f"{domain}.pot is empty"
    for lang in LANGUAGES:
        ids = {key(m): m.pluralizable for m in entries(catalogs_by_lang[lang][domain])}
        assert ids.keys() - template.keys() == set(), f"{lang}/{domain}.po has ids not in .pot"
        assert template.keys() - ids.keys() == set(), f"{lang}/{domain}.po misses ids"
        assert ids == template, f"{lang}/{domain}.po: plural entries differ from .pot"


def test_domains_do_not_define_the_same_id_twice() -> None:
    owner: dict[str, str] = {}
    for domain in DOMAINS:
        for message in entries(read(LOCALES / f"{domain}.pot")):
            other = owner.setdefault(key(message), domain)
            assert other == domain, f"{key(message)} is in both {other} and {domain}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_placeholders_agree(domain: str, catalogs_by_lang: dict[str, dict[str, Catalog]]) -> None:
    found: dict[str, dict[str, set[str]]] = {}
    for lang in LANGUAGES:
        for message in entries(catalogs_by_lang[lang][domain]):
            for n, text in enumerate(forms(message)):
                try:
                    names = placeholders(text)
                except ValueError as err:
                    pytest.fail(f"{lang}/{domain}: {key(message)}[{n}] has stray braces: {err}")
                found.setdefault(key(message), {}).setdefault(lang, set()).update(names)
                if message.pluralizable:
                    per_form = found[key(message)].setdefault(f"{lang}[{n}]", set())
                    per_form.update(names)
    problems = {
        msgid: by_lang
        for msgid, by_lang in found.items()
        if len(set(map(frozenset, by_lang.values()))) > 1
    }
    assert not problems, problems


KAZAKH_ONLY = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
# Tokens that are legitimately Latin in any language: brands, addresses, command words.
LATIN_OK = re.compile(
    r"https?://\S+|\S+@\S+|\{[^}]*\}|/[a-z]+|\b(?:Telegram|WhatsApp|eGov|egov\.kz|"
    r"[A-Z]{2,}\d*|[A-Za-z]*\d[A-Za-z\d-]*|kk|ru|en|IIN|ID|PDF|JPEG|PNG|SMS|QR|OK)\b"
)


def letters(text: str) -> tuple[int, int]:
    """(Cyrillic letters, Latin letters) once allowed tokens are removed."""
    cleaned = LATIN_OK.sub(" ", text)
    cyrillic = sum(1 for ch in cleaned if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in cleaned if ch.isascii() and ch.isalpha())
    return cyrillic, latin


@pytest.mark.parametrize("domain", DOMAINS)
def test_kazakh_is_cyrillic_kazakh(
    domain: str, catalogs_by_lang: dict[str, dict[str, Catalog]]
) -> None:
    kk = {key(m): forms(m) for m in entries(catalogs_by_lang["kk"][domain])}
    ru = {key(m): forms(m) for m in entries(catalogs_by_lang["ru"][domain])}
    latin_heavy = []
    prose = kazakh_letters = copied = 0
    for msgid, texts in kk.items():
        for text in texts:
            cyrillic, latin = letters(text)
            if cyrillic + latin and latin > 0.1 * (cyrillic + latin):
                latin_heavy.append((msgid, text))
            if cyrillic >= 25:
                prose += 1
                kazakh_letters += bool(KAZAKH_ONLY & set(text))
                copied += text in ru.get(msgid, [])
    assert not latin_heavy, f"Kazakh written in Latin letters: {latin_heavy}"
    # Longer Kazakh texts nearly always use a letter Russian lacks (ә, ғ, қ, ң, ө, ұ, ү, і).
    assert kazakh_letters >= 0.8 * prose, f"{prose - kazakh_letters} of {prose} look Russian"
    assert copied == 0, "Kazakh entries identical to the Russian ones"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_russian_is_cyrillic_and_english_is_latin(
    lang: str, catalogs_by_lang: dict[str, dict[str, Catalog]]
) -> None:
    wrong = []
    for domain in DOMAINS:
        for message in entries(catalogs_by_lang[lang][domain]):
            for text in forms(message):
                cyrillic, latin = letters(text)
                own, foreign = (cyrillic, latin) if lang == "ru" else (latin, cyrillic)
                if own + foreign and foreign > 0.1 * (own + foreign):
                    wrong.append((domain, key(message), text))
    assert not wrong, wrong


# -- message ids used in code ------------------------------------------------------------


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    # self._translator(...)("error.sorry"), catalogs[lang]("flood.slow_down")
    if isinstance(func, ast.Call | ast.Subscript):
        return "t"
    return None


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def used_msgids(source: str, filename: str, prefixes: set[str]) -> list[tuple[str, int]]:
    """(msgid, line) for every message id the code names.

    Direct uses (the first string argument of t/gettext/ngettext/reply/button/
    UserInputError..., `unsupported=` and `menu_title=` keywords) must be msgid-shaped;
    any other string literal shaped like a msgid whose first part is a catalog area
    ("input.stale_button" returned by a helper) counts too.
    """
    used: list[tuple[str, int]] = []
    direct: set[int] = set()
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _call_name(node.func) in MSGID_CALLS and node.args:
            text = _literal(node.args[0])
            if text is not None and MSGID.match(text):
                used.append((text, node.lineno))
                direct.add(id(node.args[0]))
        for keyword in node.keywords:
            text = _literal(keyword.value) if keyword.arg in MSGID_KEYWORDS else None
            if text is not None:
                used.append((text, node.lineno))
                direct.add(id(keyword.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node.func) in NOT_MSGID_CALLS:
            direct.update(id(arg) for arg in [*node.args, *(k.value for k in node.keywords)])
    # Pieces of f-strings (f"category.{code}") are not message ids by themselves.
    pieces = {
        id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
    }
    for node in ast.walk(tree):
        text = _literal(node) if isinstance(node, ast.Constant) and id(node) not in pieces else None
        if text and id(node) not in direct and MSGID.match(text) and text.split(".")[0] in prefixes:
            used.append((text, node.lineno))
    return used


def code_files() -> list[Path]:
    return sorted(p for package in ("bot", "handlers") for p in (ROOT / package).rglob("*.py"))


def test_every_msgid_used_in_code_exists() -> None:
    known = all_msgids()
    prefixes = {msgid.split(".")[0] for msgid in known}
    missing = []
    count = 0
    for path in code_files():
        for msgid, line in used_msgids(path.read_text(encoding="utf-8"), str(path), prefixes):
            count += 1
            if msgid not in known:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {msgid}")
    assert count > 30, "the scan found suspiciously few message ids"
    assert not missing, "message ids missing from the catalogs:\n" + "\n".join(missing)


def test_the_msgid_scan_finds_every_kind_of_use() -> None:
    source = (
        "async def step(msg, ctx):\n"
        "    ctx.reply('a.reply', ctx.button('a.button', 'x:1'))\n"
        "    text = ctx.t('a.t') + ctx.t.ngettext('a.plural', 'a.plural', 2)\n"
        "    raise UserInputError('a.refused', limit=3)\n"
        "    Inbound(channel, key, unsupported='a.sticker')\n"
        "    FLOW = Flow('x', entry='y', menu_title='a.title')\n"
        "    self._translator(c, m)('a.sorry')\n"
        "    return 'a.returned' if ok else 'nota.msgid'\n"
        "    ctx.t(f'a.kind_{kind}')\n"
        "    await audit(db, actor, 'a.view', ref)\n"
    )
    found = {msgid for msgid, _ in used_msgids(source, "sample.py", {"a"})}
    assert found == {
        "a.reply",
        "a.button",
        "a.t",
        "a.plural",
        "a.refused",
        "a.sticker",
        "a.title",
        "a.sorry",
        "a.returned",
    }


# -- sources and compiled catalogs -------------------------------------------------------


def _catalog_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("govbot_catalog_tool", ROOT / "tools/catalog.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _content(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {key(m): tuple(forms(m)) for m in entries(catalog)}


def test_every_domain_has_a_source_table() -> None:
    sources = sorted(p.stem for p in (LOCALES / "src").glob("*.toml"))
    assert sources == DOMAINS


@pytest.mark.parametrize(
    "domain", sorted(p.stem for p in (LOCALES / "src").glob("*.toml")) or ["messages"]
)
def test_sources_regenerate_the_committed_catalogs(domain: str, tmp_path: Path) -> None:
    tool = _catalog_tool()
    tool.ROOT = tmp_path  # write under a temporary tree with the tool's own logic
    (tmp_path / "locales").mkdir()
    tool.write(domain, LOCALES / "src" / f"{domain}.toml")
    generated = tmp_path / "locales"
    assert (
        _content(read(generated / f"{domain}.pot")).keys()
        == _content(read(LOCALES / f"{domain}.pot")).keys()
    ), f"{domain}.pot is not regenerated from locales/src/{domain}.toml"
    for lang in LANGUAGES:
        fresh = _content(read(generated / lang / "LC_MESSAGES" / f"{domain}.po", lang))
        committed = _content(read(po_path(lang, domain), lang))
        stale = {k for k in fresh.keys() | committed.keys() if fresh.get(k) != committed.get(k)}
        assert not stale, (
            f"{lang}/{domain}.po differs from locales/src/{domain}.toml for {sorted(stale)}: "
            f"run tools/catalog.py write {domain} locales/src/{domain}.toml"
        )


def test_compiled_catalogs_answer_every_msgid(catalogs: Catalogs) -> None:
    for lang in LANGUAGES:
        t = catalogs[lang]
        for domain in DOMAINS:
            for message in entries(read(po_path(lang, domain), lang)):
                params = {n: "x" for text in forms(message) for n in placeholders(text)}
                if message.pluralizable:
                    params.pop("n", None)  # ngettext fills {n} itself
                    singular, plural = message.id
                    assert t.ngettext(singular, plural, 5, **params) != plural, (lang, singular)
                else:
                    assert t.has(message.id), (lang, message.id)
                    assert t.gettext(message.id, **params) == forms(message)[0].format(**params)


# -- WhatsApp list items ------------------------------------------------------------------


def literal_buttons() -> set[tuple[str, str]]:
    """(msgid, payload) of every `.button("msgid", "payload")` in bot/ and handlers/."""
    found = set()
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Call) and _call_name(node.func) == "button":
                texts = [_literal(arg) for arg in node.args[:2]]
                if len(texts) == 2 and texts[0] and texts[1] and MSGID.match(texts[0]):
                    found.add((texts[0], texts[1]))
    return found


def offered_options(catalogs: Catalogs, lang: str) -> list[Button]:
    """Every option a flow can offer, as `lang` shows it: the buttons named in code, the
    regions (as the news subscription ticks them too), categories and state bodies, and
    the rating's stars and reasons (ticked too)."""
    t = catalogs[lang]
    named = [(m, p) for m, p in literal_buttons()]
    named += [(f"feedback.rate.{n}", f"r:{n}") for n in range(1, 6)]
    named += [(f"feedback.reason.{code}", f"why:{code}") for code in feedback.REASONS]
    buttons = [Button(p, t(m), catalogs.every_language(m)) for m, p in named]
    reasons = [b for b in buttons if b.payload.startswith("why:")]
    buttons += [Button(b.payload, feedback.CHECK + b.label, b.aliases) for b in reasons]
    refdata = load_refdata(default_data_dir())
    for prefix, items in (
        ("reg", refdata.regions),
        ("rg", refdata.regions),
        ("cat", refdata.categories),
        ("body", refdata.bodies),
    ):
        for item in items:
            names = tuple(item.names.values())
            buttons.append(Button(f"{prefix}:{item.code}", item.name(lang), names))
    news = [b for b in buttons if b.payload.startswith("rg:")]
    buttons += [Button(b.payload, subscription.CHECK + b.label, b.aliases) for b in news]
    return buttons


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_option_fits_a_whatsapp_list_item(lang: str, catalogs: Catalogs) -> None:
    t = catalogs[lang]
    options = offered_options(catalogs, lang)
    assert len(options) > 80, "the scan found suspiciously few options"
    too_long = [(b.payload, b.label) for b in options if list_item(b, t) is None]
    assert not too_long, f"add whatsapp.short.<payload> (≤ {MAX_ITEM}) for: {too_long}"
    for msgid in ("whatsapp.more", "whatsapp.first_page", "whatsapp.list_button"):
        assert 0 < len(t(msgid)) <= MAX_ITEM, (lang, msgid)
    widest = {"page": 999, "pages": 999, "number": 999}
    for msgid in ("whatsapp.page", "whatsapp.item_number"):
        assert len(t(msgid, **widest)) <= MAX_DESCRIPTION, (lang, msgid)
    short = [m for m in all_msgids() if m.startswith("whatsapp.short.")]
    assert short and all(0 < len(t(m)) <= MAX_ITEM for m in short), lang
