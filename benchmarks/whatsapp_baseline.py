"""Baseline for the WhatsApp webhook benchmark: a bare Starlette endpoint.

POST /webhooks/twilio validates X-Twilio-Signature (the same helper the bot uses) and
answers an empty TwiML <Response/>; 403 without a valid signature. Nothing else.

    TWILIO_AUTH_TOKEN=... PUBLIC_URL=https://govbot.example.kz \\
        python -m benchmarks.whatsapp_baseline --port 8090
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.channels.whatsapp.signature import (
    SIGNATURE_HEADER,
    public_url,
    validate_request,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def create_app(auth_token: str, base_url: str) -> Starlette:
    async def webhook(request: Request) -> Response:
        form = await request.form()
        url = public_url(base_url, request.url.path, request.url.query)
        if not validate_request(auth_token, url, form, request.headers.get(SIGNATURE_HEADER)):
            return Response(status_code=403)
        return Response(EMPTY_TWIML, media_type="application/xml")

    return Starlette(routes=[Route("/webhooks/twilio", webhook, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description="bare signed-webhook endpoint (baseline)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN"))
    parser.add_argument("--public-url", default=os.environ.get("PUBLIC_URL"))
    args = parser.parse_args()
    if not args.auth_token or not args.public_url:
        parser.error("TWILIO_AUTH_TOKEN and PUBLIC_URL (or --auth-token/--public-url) are needed")
    app = create_app(args.auth_token, args.public_url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
