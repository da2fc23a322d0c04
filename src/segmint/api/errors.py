"""The error bodies of the API, one shape per family (reference api.md §0.3-§0.4):

* gateway errors (authentication, headers): ``{"error_code": "403010", "message": "…"}``
* IMS token errors: ``{"error": "invalid_client", "error_description": "…"}``
* service errors: problem details ``{"type", "status", "title", "detail", "report"}``
* Profile API errors (merge policies, entity access): ``{"message", "statusCode"}``, the
  status code as a string, from routes of :class:`ProfileErrorRoute`
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

ERROR_TYPE_BASE = "https://ns.adobe.com/aep/errors/"

TITLES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    415: "UnsupportedMediaTypeError",
    422: "UnprocessableEntityError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
}


class GatewayError(Exception):
    """An authentication or header failure, answered before any service logic."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class ApiError(Exception):
    """A service-level error answered as problem details."""

    def __init__(self, status: int, code: str, detail: str, **report: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.report = report


def problem(
    status: int, code: str, detail: str, report: dict[str, Any] | None = None
) -> JSONResponse:
    body = {
        "type": f"{ERROR_TYPE_BASE}{code}-{status}",
        "status": status,
        "title": TITLES.get(status, "Error"),
        "detail": detail,
        "report": report or {},
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway)  # type: ignore[arg-type]
    app.add_exception_handler(TokenError, _token)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _gateway(_request: Request, exc: GatewayError) -> JSONResponse:
    return JSONResponse(
        {"error_code": exc.error_code, "message": exc.message}, status_code=exc.status
    )


async def _token(_request: Request, exc: TokenError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status
    )


async def _api(request: Request, exc: ApiError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.detail, _report(request, exc.report))


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors) or "invalid request"
    return problem(400, "UPS-SEG-400-1", detail, _report(request, {"errors": errors}))


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return problem(exc.status_code, f"UPS-SEG-{exc.status_code}-0", detail, _report(request, {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return problem(
        500, "UPS-SEG-500-0", f"internal error: {type(exc).__name__}", _report(request, {})
    )


def _report(request: Request, extra: dict[str, Any]) -> dict[str, Any]:
    tenant = getattr(request.state, "tenant", None)
    report: dict[str, Any] = {"requestId": request.headers.get("x-request-id")}
    if tenant is not None:
        report["tenantInfo"] = {
            "sandboxName": tenant.sandbox_name,
            "sandboxId": tenant.sandbox_id,
            "imsOrgId": tenant.org_id,
        }
    report.update(extra)
    return report


def profile_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": f"{code}: {message}", "statusCode": str(status)}, status)


class ProfileErrorRoute(APIRoute):
    """A route of the Profile API: its service errors are answered in that API's shape.
    Gateway errors are not ``ApiError``s and pass through to the application's handlers."""

    def translate(self, exc: Exception) -> Response | None:
        """The response for ``exc``, or None to let it propagate."""
        if isinstance(exc, ApiError):
            return profile_error(exc.status, exc.code, exc.detail)
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                translated = self.translate(exc)
                if translated is None:
                    raise
                return translated

        return handle
