"""GET /media/<token>: a file staff sent, fetched once by the messenger (bot/media_links.py).

No sign-in: the token is the permission. It must be genuine, unexpired, unused and name a
file staff attached to an answer on a ticket that is not a tip, or a campaign's image (so
WhatsApp campaigns carry it too); the file is decrypted for this response only. Any failure
is the same empty 404, so a prober learns nothing about why. A HEAD is answered without
using the link up. Nothing is logged: the path is the secret.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.crypto import DecryptionError
from bot.media_links import PATH
from bot.web.staff.common import runtime_of

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def disposition(name: str, *, inline: bool) -> str:
    """A Content-Disposition safe in a header: the name in ASCII letters, digits and ._-,
    and, when that is not the name itself ("ответ.pdf"), the name in UTF-8 (RFC 6266)."""
    if inline:
        return "inline"
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    value = f'attachment; filename="{safe}"'
    return value if safe == name else f"{value}; filename*=UTF-8''{quote(name, safe='')}"


def _not_found() -> Response:
    return Response(status_code=404, headers={"cache-control": "no-store"})


async def serve(request: Request) -> Response:
    runtime = runtime_of(request)
    link = runtime.media_links.open(request.path_params["token"])
    if link is None:
        return _not_found()
    head = request.method == "HEAD"
    async with runtime.storage.read() if head else runtime.storage.transaction() as tx:
        found = await tx.media_tokens.servable(link.blob_id)
        if found is None:
            return _not_found()
        if head:
            fresh = not await tx.media_tokens.used(link.tag)
        else:
            fresh = await tx.media_tokens.use(link.tag, expires_at=link.expires_at)
        if not fresh:
            return _not_found()
    try:
        data = await runtime.attachments.aget(link.blob_id)
    except (KeyError, DecryptionError):
        return _not_found()
    content_type, name = found
    inline = content_type in IMAGE_TYPES
    headers = {
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-disposition": disposition(name or f"file-{link.blob_id[:8]}", inline=inline),
    }
    return Response(data, media_type=content_type, headers=headers)


ROUTES = [Route(PATH + "{token}", serve, methods=["GET"])]
