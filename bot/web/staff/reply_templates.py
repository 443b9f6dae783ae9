"""/staff/templates: the canned replies admins keep for staff (list, add, edit, delete;
every change audited). Staff use them on the ticket page (ticket.py)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.domain import LANGUAGES
from bot.staff import canned
from bot.staff.actions import ActionError, audit
from bot.storage.records import ReplyTemplate
from bot.web import params as P
from bot.web.staff.auth import require_role, signed_in_user
from bot.web.staff.common import actor_of, message_page, reading, render, writing

NOTICES = ("staff.done.template_saved", "staff.done.template_deleted")


def _typed(form: FormData) -> tuple[str, dict[str, str]]:
    return str(form.get("title") or ""), {lang: str(form.get(lang) or "") for lang in LANGUAGES}


async def _list_page(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
) -> Response:
    async with reading(request) as db:
        found = await db.tx.reply_templates.all()
    return render(
        request,
        "staff/reply_templates.html",
        user=signed_in_user(request),
        templates=found,
        placeholders=canned.PLACEHOLDERS,
        error=error,
        typed=typed or {},
        done=P.notice(request.query_params, "done", NOTICES),
        status_code=status_code,
    )


@require_role("admin")
async def templates(request: Request) -> Response:
    """The list, and (POST) a new template; what was typed stays on a refusal."""
    if request.method == "GET":
        return await _list_page(request)
    actor = actor_of(request, signed_in_user(request))
    title, texts = _typed(await request.form())
    try:
        title, texts = canned.check(title, texts)
    except ActionError as err:
        typed = {"title": title, **texts}
        return await _list_page(request, error=err.msgid, status_code=400, typed=typed)
    async with writing(request) as db:
        new_id = await db.tx.reply_templates.add(title, texts, now=actor.now)
        await audit(db, actor, "template.add", str(new_id), title=title)
    return RedirectResponse("/staff/templates?done=staff.done.template_saved", status_code=303)


def _edit_page(
    request: Request,
    template: ReplyTemplate,
    *,
    error: str | None = None,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "staff/reply_template.html",
        user=signed_in_user(request),
        template=template,
        typed=typed or {"title": template.title, **template.texts},
        placeholders=canned.PLACEHOLDERS,
        error=error,
        status_code=status_code,
    )


@require_role("admin")
async def template(request: Request) -> Response:
    """One template: GET shows it for editing; POST saves it (op=save) or deletes it."""
    user = signed_in_user(request)
    actor = actor_of(request, user)
    template_id = P.row_id(request.path_params["template_id"]) or 0
    async with reading(request) as db:
        found = await db.tx.reply_templates.get(template_id) if template_id else None
    if found is None:
        return message_page(request, "staff.error.not_found", user=user, status_code=404)
    if request.method == "GET":
        return _edit_page(request, found)
    form = await request.form()
    if form.get("op") == "delete":
        async with writing(request) as db:
            await db.tx.reply_templates.delete(found.id)
            await audit(db, actor, "template.delete", str(found.id), title=found.title)
        return RedirectResponse(
            "/staff/templates?done=staff.done.template_deleted", status_code=303
        )
    title, texts = _typed(form)
    try:
        title, texts = canned.check(title, texts)
    except ActionError as err:
        return _edit_page(
            request, found, error=err.msgid, status_code=400, typed={"title": title, **texts}
        )
    async with writing(request) as db:
        await db.tx.reply_templates.update(found.id, title, texts, now=actor.now)
        await audit(db, actor, "template.edit", str(found.id), title=title)
    return RedirectResponse("/staff/templates?done=staff.done.template_saved", status_code=303)
