"""Issue 15, "Wording": the agency named, lines a native speaker would sign, plurals by
ngettext, one Kazakh word per idea, an impersonal Russian bot, regions in each alphabet."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.collation import sort_key
from bot.config import Settings
from bot.errors import RefDataError
from bot.i18n import Catalogs
from bot.refdata import default_data_dir, load_refdata
from bot.runtime import Runtime, open_runtime
from tests.chat import Chat
from tests.conftest import Clock, start_in
from tests.test_trust import to_name

LOCALES = Path(__file__).resolve().parent.parent / "locales"
AGENCY = {
    "kk": "Қазақстан Республикасының Мемлекеттік қызмет істері және сыбайлас жемқорлыққа қарсы "
    "іс-қимыл агенттігі",
    "ru": "Агентство Республики Казахстан по делам государственной службы и противодействию "
    "коррупции",
}
SITE = "https://www.gov.kz/memleket/entities/anticorruption"


def _messages(lang: str, *, staff: bool = True) -> dict[str, str]:
    """Every message of `lang`'s catalogs, plural forms joined."""
    found = {}
    for po in sorted((LOCALES / lang / "LC_MESSAGES").glob("*.po")):
        if not staff and po.stem in ("staff", "campaign"):
            continue
        with po.open("rb") as fp:
            for message in read_po(fp, locale=lang):
                if not message.id:
                    continue
                msgid = message.id[0] if isinstance(message.id, tuple) else message.id
                text = message.string
                found[msgid] = " ".join(text) if isinstance(text, tuple) else text
    return found


# -- the agency is named -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["kk", "ru"])
async def test_welcome_and_help_name_the_agency_and_its_website(
    runtime: Runtime, lang: str
) -> None:
    chat = Chat(runtime.dispatcher, lang=lang)
    await start_in(chat, lang)
    assert AGENCY[lang] in chat.text
    assert f"{SITE}?lang={lang}" in chat.text
    await chat.send({"kk": "көмек", "ru": "помощь"}[lang])
    assert AGENCY[lang] in chat.text
    assert f"{SITE}?lang={lang}" in chat.text


async def test_the_agency_is_configured_in_data(
    tmp_path: Path, settings: Settings, clock: Clock, catalogs: Catalogs
) -> None:
    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    agency = json.loads((data / "agency.json").read_text(encoding="utf-8"))
    agency["name"]["en"] = "Test Agency of Somewhere"
    agency["website"]["en"] = "https://agency.example"
    agency["retention_years"] = 1
    (data / "agency.json").write_text(json.dumps(agency), encoding="utf-8")
    rt = await open_runtime(settings, clock=clock, data_dir=data, catalogs=catalogs)
    try:
        chat = Chat(rt.dispatcher, lang="en")
        await start_in(chat, "en")
        assert "Test Agency of Somewhere" in chat.text
        assert "https://agency.example" in chat.text
        complaint = Chat(rt.dispatcher, chat_key="chat-2", lang="en")
        await to_name(complaint, "en")  # the personal-data notice, with the retention period
        assert "For how long: 1 year after the complaint is closed." in complaint.text
        assert "Operator: Test Agency of Somewhere." in complaint.text
    finally:
        await rt.close()


def test_a_broken_agency_file_names_its_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(default_data_dir(), data)
    text = (data / "agency.json").read_text(encoding="utf-8")
    (data / "agency.json").write_text(text.replace('"retention_years": 5', '"retention_years": 0'))
    with pytest.raises(RefDataError, match=r"^data/agency.json:\d+: \"retention_years\" must be"):
        load_refdata(data)


# -- the lines the issue names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "msgid", "wanted"),
    [
        ("kk", "feedback.menu", "⭐ Мемлекеттік көрсетілетін қызметті бағалау"),
        ("ru", "feedback.reason.bribe", "Вымогали взятку"),
        ("kk", "feedback.reason.bribe", "Пара сұралды"),
        ("ru", "status.s_rejected", "отказано в удовлетворении"),
        ("kk", "status.s_rejected", "қанағаттандырылмады"),
    ],
)
def test_named_lines(catalogs: Catalogs, lang: str, msgid: str, wanted: str) -> None:
    assert catalogs[lang](msgid) == wanted


def test_kazakh_says_public_services_not_the_civil_service() -> None:
    """ "Мемлекеттік қызмет" alone is the civil service; a service the state renders to a
    citizen is "мемлекеттік көрсетілетін қызмет"."""
    civil_service = re.compile(r"мемлекеттік қызмет(ті|ке|терді|тер|)(?!\w)", re.IGNORECASE)
    found = {m: t for m, t in _messages("kk", staff=False).items() if civil_service.search(t)}
    assert found == {}


def test_amount_prompts(catalogs: Catalogs) -> None:
    assert catalogs["kk"]("tip.ask_amount").startswith("Қанша ақша талап етілді (теңгемен)?")
    assert "«KZT 150,000»" in catalogs["en"]("tip.ask_amount")
    assert "тг" not in catalogs["en"]("tip.ask_amount")


@pytest.mark.parametrize(
    ("lang", "length", "wanted"),
    [
        ("ru", 201, "Получился 201 символ;"),
        ("ru", 202, "Получилось 202 символа;"),
        ("ru", 205, "Получилось 205 символов;"),
        ("en", 201, "That is 201 characters;"),
    ],
)
async def test_lengths_are_counted_in_the_right_plural(
    runtime: Runtime, lang: str, length: int, wanted: str
) -> None:
    chat = Chat(runtime.dispatcher, lang=lang)
    await start_in(chat, lang)
    await chat.press_payload("flow:feedback")
    await chat.press_payload(chat.buttons[0].payload)  # a service
    await chat.press_payload("reg:astana")
    await chat.send("ц" * length)
    assert wanted in chat.text


def test_no_length_placeholder_is_left_without_plurals() -> None:
    """`{length}` in a sentence gets the Russian plural wrong ("201 символов"): counts are
    `{n}` in ngettext messages. Only the staff campaign form keeps it, as "зн."."""
    for lang in ("ru", "kk", "en"):
        for msgid, text in _messages(lang).items():
            if "{length}" in text:
                assert msgid == "campaign.console.error.too_long", msgid
    assert "{length} зн." in _messages("ru")["campaign.console.error.too_long"]


# -- one Kazakh word per idea, an impersonal Russian bot ---------------------------------

# Chosen: батырма (not түйме), рақмет (not рахмет), мәртебе (not жай-күй / күйі) for status.
REJECTED_KAZAKH = re.compile(r"(?<!\w)(түйме|рахмет|жай-күй|күй(і|ін|іне)(?!\w))", re.IGNORECASE)


def test_kazakh_catalogs_use_one_word_per_idea() -> None:
    found = {
        msgid: hit.group(0)
        for msgid, text in _messages("kk").items()
        if (hit := REJECTED_KAZAKH.search(text))
    }
    assert found == {}


def test_the_rejected_kazakh_variants_are_caught() -> None:
    for text in ("«Дайын» түймесін басыңыз", "Рахмет!", "хабарламаның жай-күйін", "Күйі: жаңа"):
        assert REJECTED_KAZAKH.search(text), text
    assert not REJECTED_KAZAKH.search("«Дайын» батырмасын басыңыз. Рақмет! Мәртебесі: жаңа")


# Buttons the citizen presses speak in the citizen's voice, so "я" / "мне" are theirs.
CITIZEN_VOICE = {"tip.contact_chat", "tip.edit_contact", "subscription.home_yes"}
FIRST_PERSON = re.compile(r"(?<!\w)(я|мне|меня|мной|моего|моему)(?!\w)", re.IGNORECASE)
MASCULINE_SELF = re.compile(r"(?<!\w)(сохранил|принял|перенёс|понял|нашёл|не смог)(?!\w)")


def test_the_russian_bot_speaks_impersonally() -> None:
    found = {}
    for msgid, text in _messages("ru", staff=False).items():
        said = re.sub(r"«[^»]*»", "", text)  # a button quoted in the text is the citizen's
        if msgid not in CITIZEN_VOICE and (
            FIRST_PERSON.search(said) or MASCULINE_SELF.search(said)
        ):
            found[msgid] = text
    assert found == {}


# -- regions in each language's alphabet -------------------------------------------------


def test_kazakh_alphabet_order() -> None:
    words = ["Ұлытау", "Ақтөбе", "Алматы", "Абай", "Қостанай", "Шығыс", "Ырғыз", "Іле", "Үржар"]
    ordered = sorted(words, key=lambda w: sort_key("kk", w))
    assert ordered == [
        "Абай",
        "Ақтөбе",
        "Алматы",
        "Қостанай",
        "Ұлытау",
        "Үржар",
        "Шығыс",
        "Ырғыз",
        "Іле",
    ]


@pytest.mark.parametrize(
    ("lang", "names"),
    [
        (
            "kk",
            [
                "Астана қаласы",
                "Алматы қаласы",
                "Шымкент қаласы",
                "Абай облысы",
                "Ақмола облысы",
                "Ақтөбе облысы",
                "Алматы облысы",
                "Атырау облысы",
                "Батыс Қазақстан облысы",
            ],
        ),
        (
            "ru",
            [
                "город Астана",
                "город Алматы",
                "город Шымкент",
                "область Абай",
                "Акмолинская область",
                "Актюбинская область",
                "Алматинская область",
                "Атырауская область",
                "Восточно-Казахстанская область",
            ],
        ),
    ],
)
async def test_region_buttons_follow_the_language(
    runtime: Runtime, lang: str, names: list[str]
) -> None:
    chat = Chat(runtime.dispatcher, lang=lang)
    await start_in(chat, lang)
    await chat.press_payload("flow:feedback")
    await chat.press_payload(chat.buttons[0].payload)
    labels = [b.label for b in chat.buttons if b.payload.startswith("reg:")]
    assert labels[: len(names)] == names
    assert len(labels) == 20
    kk = load_refdata(default_data_dir()).regions_in("kk")
    assert [r.name("kk") for r in kk][-4:] == [
        "Солтүстік Қазақстан облысы",
        "Түркістан облысы",
        "Ұлытау облысы",
        "Шығыс Қазақстан облысы",
    ]
