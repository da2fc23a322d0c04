"""Request dependencies: the service state, and the AEP gateway checks that turn headers
into a tenant (org + sandbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from segmint.api.errors import ApiError, GatewayError
from segmint.api.tokens import InvalidToken, verify
from segmint.jobs.model import Tenant
from segmint.settings import Settings
from segmint.store import Store


@dataclass
class ServiceState:
    settings: Settings
    store: Store
    signing_key: bytes


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.segmint
    return state


State = Annotated[ServiceState, Depends(get_state)]


def get_tenant(request: Request, state: State) -> Tenant:
    """Check the four AEP headers in the gateway's order; the tenant they name."""
    headers = request.headers
    token = _bearer_token(headers.get("authorization"))
    try:
        claims = verify(state.signing_key, token)
    except InvalidToken as exc:
        raise GatewayError(401, "401013", "Oauth token is not valid") from exc
    api_key = headers.get("x-api-key")
    if not api_key:
        raise GatewayError(403, "403000", "Api Key is required")
    if api_key != claims.client_id:
        raise GatewayError(403, "403003", "Api Key is invalid")
    org_id = headers.get("x-gw-ims-org-id")
    if not org_id:
        raise GatewayError(400, "400003", "Missing header")
    if org_id != claims.org_id:
        raise GatewayError(403, "403025", "Profile is not valid")
    sandbox_name = headers.get("x-sandbox-name")
    if not sandbox_name:
        raise GatewayError(400, "400003", "Missing header: x-sandbox-name")
    tenant = state.store.tenants.resolve(org_id, sandbox_name)
    if tenant is None:
        raise ApiError(
            403, "UPS-SEG-403-1", f"sandbox {sandbox_name!r} does not exist for this organization"
        )
    request.state.tenant = tenant
    return tenant


def _bearer_token(value: str | None) -> str:
    if not value:
        raise GatewayError(403, "403010", "Oauth token is missing.")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError(401, "401013", "Oauth token is not valid")
    return token.strip()


CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
