"""The ticket page and its actions: assign, status with a reason, reply, internal note,
deadline extension, redirect to the competent body; the deadline marks (bot/deadlines.py);
attachments; for tips the sealed contents and the identity reveal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.attachments import kind_for
from bot.deadlines import OPEN_STATUSES, DeadlineView, filed_on, redirect_deadline
from bot.errors import UserInputError
from bot.staff import actions, canned
from bot.staff.actions import TRANSITIONS, ActionError, Actor, Conflict
from bot.staff.records import StaffUser, row_of
from bot.staff.roles import can_see
from bot.storage.records import AttachmentRef, Ticket
from bot.text import clean_optional
from bot.web import params as P
from bot.web.media import IMAGE_TYPES, disposition
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import (
    actor_of,
    message_page,
    reading,
    render,
    runtime_of,
    today_of,
    writing,
)

TICKET_ROLES = ("admin", "reviewer", "investigator")
ACTIONS = ("assign", "status", "reply", "note", "deadline", "redirect", "reveal")
# What a redirect after an action may announce (reveal shows its page directly).
NOTICES = tuple(f"staff.done.{a}" for a in ACTIONS if a != "reveal")
# What a form that failed (a validation error, an edit conflict) shows again as typed.
KEPT_FIELDS = ("text", "status", "needs_answer", "reason", "due_on", "body")


def _typed(form: FormData) -> dict[str, str]:
    """What a ticket form held, to show it again as typed."""
    return {key: str(value) for key, value in form.items() if key in KEPT_FIELDS}


def deadline_view(request: Request) -> DeadlineView:
    """Today's deadline marks: the reminder horizon and Kazakhstan's days off."""
    runtime = runtime_of(request)
    return DeadlineView(
        today_of(request), runtime.settings.deadline_reminder_days, runtime.refdata.days_off
    )


async def _page(
    request: Request,
    user: StaffUser,
    ticket: Ticket,
    *,
    status_code: int = 200,
    error: str | None = None,
    identity: dict[str, Any] | None = None,
    kept: dict[str, str] | None = None,
) -> Response:
    """Render the ticket; a tip is decrypted for this response only, and the view audited.
    `kept`: what was typed into a form (its name under "form") that failed or took a
    canned reply, shown again."""
    actor = actor_of(request, user)
    marks = deadline_view(request)
    contents: dict[str, Any] | None = None
    locked = False
    thread: Sequence[Any] = []
    attachments: list[AttachmentRef] = []
    async with writing(request) as db:
        if ticket.kind == "tip":
            try:
                view = await actions.tip_view(db, actor, ticket)
            except ActionError:
                locked = True  # no key for this investigator: metadata only
            else:
                contents, thread = view.contents, view.thread
                attachments = [
                    AttachmentRef(str(f.id), f.kind, f.content_type, f.size) for f in view.files
                ]
        else:
            thread = await db.tx.tickets.messages(ticket.id, include_internal=True)
            attachments = await db.tx.tickets.attachments(ticket.id)
        deliveries = await db.console.deliveries(ticket.id)
        events = await db.console.events(ticket.id)
        names = await db.staff.names()
        staff = [u for u in await db.staff.all() if not u.disabled and can_see(u, ticket)]
        citizen = await db.tx.citizens.get(ticket.citizen_id) if ticket.citizen_id else None
        templates = await db.tx.reply_templates.all()
        survey = await db.tx.satisfaction.latest(ticket.id)
    return render(
        request,
        "staff/ticket.html",
        user=user,
        status_code=status_code,
        ticket=ticket,
        contents=contents,
        locked=locked,
        identity=identity,
        thread=thread,
        deliveries=deliveries,
        events=events,
        attachments=attachments,
        image_types=IMAGE_TYPES,
        names=names,
        staff=staff,
        transitions=TRANSITIONS[ticket.status],
        error=error,
        kept=kept or {},
        done=P.notice(request.query_params, "done", NOTICES),
        citizen_channel=citizen.channel if citizen else None,
        reply_templates=templates,
        survey=survey,
        marks=row_of(ticket, None, marks),
        open_statuses=OPEN_STATUSES,
        redirect_by=redirect_deadline(filed_on(ticket.created_at), marks.days_off),
        marks_forwarding_late=marks.forwarding_late(ticket.created_at),
    )


async def _load(request: Request, actor: Actor) -> Ticket | Response:
    async with reading(request) as db:
        ticket = await db.tx.tickets.by_reference(request.path_params["reference"])
    try:
        return actions.check_access(actor, ticket)
    except ActionError as err:
        return message_page(request, err.msgid, user=actor.user, status_code=404)


@require_role(*TICKET_ROLES)
async def show(request: Request) -> Response:
    user = signed_in_user(request)
    found = await _load(request, actor_of(request, user))
    if isinstance(found, Response):
        return found
    return await _page(request, user, found)


async def _with_canned(
    request: Request, user: StaffUser, ticket: Ticket, form: FormData
) -> Response:
    """The reply form again, the picked canned reply (in the ticket's language, its
    placeholders filled) added under what was typed, and the form's other choices kept:
    nothing is sent, and nothing typed goes into a URL. Picked on a page a colleague has
    overtaken, it is the edit conflict: the new form would carry the new version."""
    typed = _typed(form)
    stale = P.form_id(form.get("version")) != ticket.version
    template_id = P.form_id(form.get("template"))
    async with reading(request) as db:
        found = await db.tx.reply_templates.get(template_id) if template_id else None
    if found is not None:
        t = runtime_of(request).catalogs[ticket.locale]
        filled = canned.fill(found.texts[ticket.locale], ticket, t)
        typed["text"] = "\n\n".join(
            part for part in (typed.get("text", "").rstrip(), filled) if part
        )
    conflict = Conflict() if stale else None
    return await _page(
        request,
        user,
        ticket,
        status_code=conflict.status_code if conflict else 200,
        error=conflict.msgid if conflict else None,
        kept={"form": "reply", **typed},
    )


@require_role(*TICKET_ROLES)
async def act(request: Request) -> Response:
    user = signed_in_user(request)
    actor = actor_of(request, user)
    action = request.path_params["action"]
    found = await _load(request, actor)
    if isinstance(found, Response):
        return found
    ticket = found
    if action not in ACTIONS:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    form = await request.form()
    try:
        return await _act(request, user, actor, ticket, action, form)
    finally:
        await form.close()  # the uploaded files' temporary copies


async def _act(
    request: Request, user: StaffUser, actor: Actor, ticket: Ticket, action: str, form: FormData
) -> Response:
    if action == "reply" and form.get("insert"):
        return await _with_canned(request, user, ticket, form)
    text = str(form.get("text") or "")
    version = P.form_id(form.get("version")) or 0
    runtime = runtime_of(request)
    identity: dict[str, Any] | None = None
    queued = None
    files: tuple[AttachmentRef, ...] = ()
    try:
        if action == "reply":
            files = await _stored_files(request, form)
        async with writing(request) as db:
            fresh = await db.tx.tickets.get(ticket.id)
            assert fresh is not None
            if action == "assign":
                who = str(form.get("assignee") or "")
                assignee = user.id if who == "me" else P.form_id(who)
                await actions.assign(db, actor, fresh, version=version, assignee_id=assignee)
            elif (
                action == "reply"
                and form.get("needs_answer") == "1"
                and (form.get("status") not in (None, "", "waiting"))
            ):
                # Asking the citizen means waiting for them: another status contradicts it.
                raise ActionError("staff.ticket.needs_answer_status")
            elif action == "status" or (action == "reply" and form.get("status")):
                # The one form answers and moves the ticket: the answer is the status's
                # reason, so the citizen gets one message.
                reason = str(form.get("reason") or "") if action == "status" else text
                action = "status"
                queued = await actions.change_status(
                    db,
                    runtime.catalogs,
                    actor,
                    fresh,
                    version=version,
                    status=str(form.get("status") or ""),
                    reason=reason,
                    files=files,
                )
            elif action == "reply":
                queued = await actions.reply(
                    db,
                    runtime.catalogs,
                    actor,
                    fresh,
                    text=text,
                    needs_answer=form.get("needs_answer") == "1",
                    version=version,
                    files=files,
                )
            elif action == "note":
                await actions.note(db, actor, fresh, text=text)
            elif action == "deadline":
                try:
                    due = date.fromisoformat(str(form.get("due_on") or ""))
                except ValueError:
                    raise ActionError("staff.ticket.bad_date") from None
                queued = await actions.extend_deadline(
                    db,
                    runtime.catalogs,
                    actor,
                    fresh,
                    version=version,
                    due_on=due,
                    reason=str(form.get("reason") or ""),
                )
            elif action == "redirect":
                queued = await actions.redirect(
                    db,
                    runtime.catalogs,
                    actor,
                    fresh,
                    version=version,
                    body=str(form.get("body") or ""),
                    days_off=runtime.refdata.days_off,
                )
            else:
                identity = await actions.reveal_identity(db, actor, fresh) or {}
    except ActionError as err:
        for ref in files:  # stored for a reply that did not happen
            await runtime.attachments.adelete(ref.blob_id)
        async with reading(request) as db:
            current = await db.tx.tickets.get(ticket.id)
        assert current is not None
        typed = _typed(form)
        return await _page(
            request,
            user,
            current,
            status_code=err.status_code,
            error=err.msgid,
            kept={"form": request.path_params["action"], **typed},
        )
    if queued is not None:
        runtime.outbox.wake()
    if action == "reveal":
        async with reading(request) as db:
            current = await db.tx.tickets.get(ticket.id)
        assert current is not None
        return await _page(request, user, current, identity=identity)
    return RedirectResponse(
        f"/staff/tickets/{ticket.reference}?done=staff.done.{action}", status_code=303
    )


async def _stored_files(request: Request, form: FormData) -> tuple[AttachmentRef, ...]:
    """The reply form's files, checked, cleaned and encrypted as a citizen's are
    (bot/attachments.py); all of them or, with the reason, none."""
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    runtime = runtime_of(request)
    if len(uploads) > runtime.settings.max_attachments:
        raise ActionError("staff.ticket.too_many_files")
    stored: list[AttachmentRef] = []
    try:
        for upload in uploads:
            name = clean_optional(upload.filename)
            try:
                found = await runtime.attachments.aput(
                    await upload.read(), declared_type=upload.content_type, file_name=name
                )
            except UserInputError as err:
                too_large = err.msgid == "attachment.too_large"
                raise ActionError(
                    "staff.ticket.file_too_large" if too_large else "staff.ticket.file_unsupported"
                ) from None
            kind = kind_for(found.content_type)
            stored.append(AttachmentRef(found.blob_id, kind, found.content_type, found.size, name))
    except ActionError:
        for ref in stored:
            await runtime.attachments.adelete(ref.blob_id)
        raise
    return tuple(stored)


@require_role(*TICKET_ROLES)
async def attachment(request: Request) -> Response:
    """A ticket's file, decrypted for staff who may see the ticket; images shown inline."""
    user = signed_in_user(request)
    actor = actor_of(request, user)
    found = await _load(request, actor)
    if isinstance(found, Response):
        return found
    blob_id = request.path_params["blob_id"]
    if found.kind == "tip":
        return await _tip_file(request, actor, found, blob_id)
    async with reading(request) as db:
        refs = await db.tx.tickets.attachments(found.id)
    ref = next((r for r in refs if r.blob_id == blob_id), None)
    if ref is None:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    data = await runtime_of(request).attachments.aget(blob_id)
    return _file_response(
        data, ref.content_type, ref.file_name or f"{found.reference}-{blob_id[:8]}"
    )


async def _tip_file(request: Request, actor: Actor, ticket: Ticket, file_id: str) -> Response:
    """A tip's file, opened with the investigator's key; files of tips have no names."""
    try:
        async with writing(request) as db:
            found = await actions.tip_file(db, actor, ticket, int(file_id))
    except (ActionError, ValueError):
        found = None
    if found is None:
        return message_page(request, "staff.error.not_found", user=actor.user, status_code=404)
    content_type, data = found
    return _file_response(data, content_type, f"{ticket.reference}-{file_id[-8:]}")


def _file_response(data: bytes, content_type: str, name: str) -> Response:
    inline = content_type in IMAGE_TYPES
    media = content_type if inline else "application/octet-stream"
    headers = {"content-disposition": disposition(name, inline=inline)}
    return Response(data, media_type=media, headers=headers)
