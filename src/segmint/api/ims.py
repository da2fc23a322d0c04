"""``POST /ims/token/v3``: client-credentials tokens, as Adobe IMS issues them."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request

from segmint.api.deps import State
from segmint.api.errors import TokenError
from segmint.api.tokens import issue

router = APIRouter(tags=["ims"])


@router.post("/ims/token/v3", operation_id="imsTokenV3")
async def token(request: Request, state: State) -> dict[str, Any]:
    form = _form(await request.body(), request.headers.get("content-type", ""))
    if not form.get("grant_type"):
        raise TokenError(400, "invalid_request", "grant_type is required")
    if form.get("grant_type") != "client_credentials":
        raise TokenError(400, "unsupported_grant_type", "grant_type must be client_credentials")
    settings = state.settings
    client_ok = hmac.compare_digest(form.get("client_id", ""), settings.client_id)
    secret_ok = hmac.compare_digest(form.get("client_secret", ""), settings.client_secret)
    if not (client_ok and secret_ok):
        raise TokenError(401, "invalid_client", "invalid client_id or client_secret")
    access_token = issue(
        state.signing_key, settings.client_id, settings.org_id, settings.token_ttl_seconds
    )
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": settings.token_ttl_seconds,
    }


def _form(body: bytes, content_type: str) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in content_type.lower():
        raise TokenError(
            400, "invalid_request", "the body must be application/x-www-form-urlencoded"
        )
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise TokenError(400, "invalid_request", "the body is not UTF-8") from exc
    return {key: values[-1] for key, values in parsed.items()}
