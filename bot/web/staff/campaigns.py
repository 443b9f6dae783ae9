"""Campaign pages under /staff/campaigns, for operators and admins: the list with live
status, compose (count, preview, test send, schedule), and each campaign's page with live
progress, pause / resume / cancel, a test send and the final report.

Compose is one form with several submit buttons (`op`): count, preview and test re-render
it filled in, so it works without JavaScript; create stores the campaign through
`app.state.campaigns` (the same CampaignService `govbot run` uses) and opens its page.
A test send goes to a chat the operator types: a Telegram chat id or a WhatsApp number.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.campaigns.model import CHANNELS, Campaign, Image, TemplateVariableError
from bot.campaigns.service import CampaignService
from bot.campaigns.variables import VARIABLES, placeholders
from bot.domain import LANGUAGES
from bot.errors import DeliveryError, UserInputError
from bot.staff import actions
from bot.staff.records import StaffUser
from bot.staff.roles import CAMPAIGN_ROLES
from bot.web import params as P
from bot.web.staff import campaign_view as view
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.campaign_form import (
    IMAGE_TYPES,
    PLACEHOLDERS,
    ComposeForm,
    FormError,
    image_from_token,
    image_token,
)
from bot.web.staff.common import (
    actor_of,
    language_of,
    message_page,
    now_of,
    render,
    runtime_of,
    translator,
)
from bot.web.staff.common import writing as staff_writing

ACTIONS = ("pause", "resume", "cancel")
DONE = {
    "created": "campaign.console.done.created",
    "pause": "campaign.console.done.paused",
    "resume": "campaign.console.done.resumed",
    "cancel": "campaign.console.done.cancelled",
    "unchanged": "campaign.console.done.unchanged",
    "test": "campaign.console.done.test",
}
LIVE = ("scheduled", "sending", "paused")

guard = require_role(*CAMPAIGN_ROLES)


def service_of(request: Request) -> CampaignService:
    service: CampaignService = request.app.state.campaigns
    return service


def _secret(request: Request) -> str:
    key = runtime_of(request).settings.secret_key
    assert key is not None  # ensure_secrets fills it on start-up
    return key


def _regions(request: Request, user: StaffUser) -> list[tuple[str, str]]:
    lang = language_of(request, user)
    return [(r.code, r.name(lang)) for r in runtime_of(request).refdata.regions]


async def audit(
    request: Request, user: StaffUser, action: str, target: str | None, **detail: Any
) -> None:
    async with staff_writing(request) as db:
        await actions.audit(db, actor_of(request, user), action, target, **detail)


# ---- the list ------------------------------------------------------------------------------


@guard
async def index(request: Request) -> Response:
    user = signed_in_user(request)
    service = service_of(request)
    now = now_of(request)
    async with service.campaigns.read() as store:
        campaigns = await store.recent(limit=100)
        progress = {c.id: await store.progress(c.id, now=now) for c in campaigns}
    return render(
        request,
        "staff/campaigns.html",
        user=user,
        campaigns=campaigns,
        progress=progress,
        live=any(c.status == "sending" for c in campaigns),
        schedule=lambda c: view.schedule_text(translator(request, user), c),
    )


# ---- compose -------------------------------------------------------------------------------


async def _compose_page(
    request: Request,
    user: StaffUser,
    form: ComposeForm,
    *,
    error: FormError | None = None,
    done: str | None = None,
    status_code: int = 200,
    confirm: bool = False,
) -> Response:
    count = await _audience_count(request, form)
    settings = runtime_of(request).settings
    draft = form.preview_campaign(created_by=user.username, now=now_of(request))
    declared = await service_of(request).declared(tuple(draft.templates.values()))
    t = translator(request, user)
    return render(
        request,
        "staff/campaign_new.html",
        user=user,
        status_code=status_code,
        form=form,
        count=count,
        skipped=count.skipped(draft) if draft.texts else 0,
        preview=view.preview(draft, runtime_of(request).catalogs, declared) if draft.texts else [],
        regions=_regions(request, user),
        placeholders=[(n, placeholders({n})) for n in PLACEHOLDERS],
        variables=VARIABLES,
        every_placeholder=placeholders(set(PLACEHOLDERS)),
        days=view.day_names(t),
        error=error,
        done=done,
        image_token=image_token(_secret(request), form.image) if form.image else "",
        channels=CHANNELS,
        codes=LANGUAGES,
        confirm=confirm,
        estimate=view.PaidEstimate.of(count.by_channel("telegram"), settings.telegram_paid_price),
        paid_rate=settings.telegram_paid_rate,
        paid_price=settings.telegram_paid_price,
    )


async def _audience_count(request: Request, form: ComposeForm) -> view.AudienceCount:
    async with service_of(request).campaigns.read() as store:
        rows = await store.count_audience(
            form.audience, default_locale=runtime_of(request).settings.default_language
        )
    return view.AudienceCount(rows)


async def _confirmed(request: Request, form: ComposeForm, data: FormData) -> bool:
    """Whether "send now" and a paid broadcast were confirmed for the audience they reach
    at this moment.

    Each confirmation carries the count the operator saw (all recipients; the Telegram
    ones a paid broadcast bills): if the audience changed since (other regions ticked,
    new subscribers), they are asked again with the new number and cost.
    """
    if form.when != "now" and not form.paid_broadcast:
        return True
    count = await _audience_count(request, form)
    sent_now = form.when != "now" or data.get("confirm") == str(count.total)
    telegram = str(count.by_channel("telegram"))
    paid = not form.paid_broadcast or data.get("confirm_paid") == telegram
    return sent_now and paid


async def _upload(request: Request, upload: UploadFile) -> Image:
    data = await upload.read()
    attachments = runtime_of(request).attachments
    try:
        stored = await attachments.aput(
            data, declared_type=upload.content_type, file_name=upload.filename
        )
    except UserInputError:
        raise FormError("campaign.console.error.image") from None
    if stored.content_type not in IMAGE_TYPES:
        await attachments.adelete(stored.blob_id)
        raise FormError("campaign.console.error.image")
    return Image(stored.blob_id, stored.content_type)


@guard
async def compose(request: Request) -> Response:
    user = signed_in_user(request)
    if request.method == "GET":
        return await _compose_page(request, user, ComposeForm(test_lang=language_of(request, user)))
    data = await request.form()
    try:
        return await _compose(request, user, data)
    finally:
        await data.close()  # the uploaded file's temporary copy


async def _compose(request: Request, user: StaffUser, data: FormData) -> Response:
    regions = {code for code, _ in _regions(request, user)}
    form = ComposeForm.parse(data, regions=regions, secret=_secret(request))
    op = str(data.get("op") or "count")
    try:
        upload = data.get("image")
        if isinstance(upload, UploadFile) and upload.filename:
            form.image = await _upload(request, upload)
        if op == "test":
            campaign = form.preview_campaign(created_by=user.username, now=now_of(request))
            await _test_send(request, user, campaign, form)
            return await _compose_page(request, user, form, done=DONE["test"])
        if op == "create" and not await _confirmed(request, form, data):
            return await _compose_page(request, user, form, confirm=True)
        if op == "create":
            draft = form.draft(created_by=user.username, now=now_of(request), regions=regions)
            try:
                created = await service_of(request).create(draft)
            except TemplateVariableError as err:  # what the Content API says the template needs
                raise FormError.of(err.problem) from None
            paid: dict[str, Any] = {"paid_broadcast": created.paid_broadcast}
            if created.paid_broadcast:  # the cost the operator confirmed
                telegram = (await _audience_count(request, form)).by_channel("telegram")
                price = runtime_of(request).settings.telegram_paid_price
                paid.update(view.PaidEstimate.of(telegram, price).audited)
            await audit(
                request,
                user,
                "campaign.create",
                f"campaign:{created.id}",
                title=created.title,
                languages=sorted(created.texts),
                fallback=created.fallback,
                regions=list(draft.audience.regions),
                channels=list(draft.audience.channels),
                recurring=created.recurring,
                **paid,
            )
            return RedirectResponse(f"/staff/campaigns/{created.id}?done=created", status_code=303)
    except FormError as err:
        return await _compose_page(request, user, form, error=err, status_code=400)
    return await _compose_page(request, user, form)


async def _test_send(
    request: Request, user: StaffUser, campaign: Campaign, form: ComposeForm
) -> None:
    """Send `campaign` to the operator's own chat now (nothing recorded but the audit)."""
    chat = form.check_test_chat()
    if not campaign.texts:
        raise FormError("campaign.console.error.no_text")
    engine = service_of(request).engine
    if form.test_channel not in engine.senders:
        raise FormError("campaign.console.error.channel_off")
    try:
        await engine.test_send(campaign, form.test_channel, chat, form.test_lang)
    except DeliveryError as err:
        raise FormError("campaign.console.error.test_failed", detail=err.code or str(err)) from None
    finally:
        await audit(
            request,
            user,
            "campaign.test_send",
            f"campaign:{campaign.id}" if campaign.id else None,
            channel=form.test_channel,
            lang=form.test_lang,
            to=f"…{chat[-4:]}",
        )


# ---- one campaign --------------------------------------------------------------------------


async def _campaign_page(
    request: Request,
    user: StaffUser,
    campaign: Campaign,
    *,
    form: ComposeForm | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    now = now_of(request)
    async with service.campaigns.read() as store:
        progress = await store.progress(campaign.id, now=now)
        rows = await store.report(progress.run_id) if progress.run_id is not None else []
    t = translator(request, user)
    done = DONE.get(request.query_params.get("done", ""))
    report = view.report(rows)
    settings = runtime_of(request).settings
    return render(
        request,
        "staff/campaign.html",
        user=user,
        status_code=status_code,
        campaign=campaign,
        progress=progress,
        report=report,
        paid_sent=view.PaidEstimate.of(view.paid_sent(report), settings.telegram_paid_price),
        paid_rate=settings.telegram_paid_rate,
        statuses=view.REPORT_STATUSES,
        reasons=view.KNOWN_REASONS,
        time_left=view.time_left(t, progress),
        rate=view.rate_text(t, progress),
        schedule=view.schedule_text(t, campaign),
        preview=view.preview(campaign, runtime_of(request).catalogs),
        regions=dict(_regions(request, user)),
        form=form or ComposeForm(test_lang=language_of(request, user)),
        error=error,
        done=None if error else done,
        image_token=image_token(_secret(request), campaign.image) if campaign.image else "",
        live=campaign.status in LIVE or progress.run_status in ("running", "paused"),
        channels=CHANNELS,
        codes=LANGUAGES,
    )


async def _campaign(request: Request) -> Campaign | None:
    async with service_of(request).campaigns.read() as store:
        campaign_id = P.row_id(request.path_params["campaign_id"])
        return await store.get(campaign_id) if campaign_id else None


@guard
async def show(request: Request) -> Response:
    user = signed_in_user(request)
    campaign = await _campaign(request)
    if campaign is None:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    return await _campaign_page(request, user, campaign)


@guard
async def control(request: Request) -> Response:
    user = signed_in_user(request)
    action = request.path_params["action"]
    campaign = await _campaign(request)
    if campaign is None or action not in ACTIONS:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    changed = await service_of(request).control(campaign.id, action)
    if changed:
        await audit(request, user, f"campaign.{action}", f"campaign:{campaign.id}")
    done = action if changed else "unchanged"
    return RedirectResponse(f"/staff/campaigns/{campaign.id}?done={done}", status_code=303)


@guard
async def test(request: Request) -> Response:
    user = signed_in_user(request)
    campaign = await _campaign(request)
    if campaign is None:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    data = await request.form()
    form = ComposeForm.parse(data, regions=set(), secret=_secret(request))
    try:
        await _test_send(request, user, campaign, form)
    except FormError as err:
        return await _campaign_page(request, user, campaign, form=form, error=err, status_code=400)
    return RedirectResponse(f"/staff/campaigns/{campaign.id}?done=test", status_code=303)


@guard
async def image(request: Request) -> Response:
    """A campaign's (or a draft's) image, by the signed token the page was given."""
    found = image_from_token(_secret(request), request.query_params.get("token", ""))
    attachments = runtime_of(request).attachments
    if found is None or not attachments.exists(found.blob_id):
        return Response(status_code=404)
    return Response(await attachments.aget(found.blob_id), media_type=found.content_type)


def routes() -> list[BaseRoute]:
    """For `staff.routes(extra=...)`: mounted under /staff."""
    return [
        Route("/campaigns", index),
        Route("/campaigns/new", compose, methods=["GET", "POST"]),
        Route("/campaigns/image", image),
        Route("/campaigns/{campaign_id:int}", show),
        Route("/campaigns/{campaign_id:int}/test", test, methods=["POST"]),
        Route("/campaigns/{campaign_id:int}/{action:str}", control, methods=["POST"]),
    ]
