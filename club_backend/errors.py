"""The one error shape of the API: ``{"error": {"code": ..., "message": ...}}``.

Handlers here turn our own refusals, FastAPI's validation errors and Starlette's routing
errors (404, 405) into that shape, so a client only ever has to parse one format.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """A refusal with a machine-readable code, raised anywhere below a route."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def body(self) -> dict:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def invalid_request(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    # Only locations and messages: echoing the submitted values back could leak what was sent.
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
    )
    return JSONResponse(error_body("invalid_request", problems or "invalid request"), status_code=422)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = _STATUS_CODES.get(error.status_code, "http_error")
    return JSONResponse(error_body(code, str(error.detail)), status_code=error.status_code,
                        headers=getattr(error, "headers", None))
