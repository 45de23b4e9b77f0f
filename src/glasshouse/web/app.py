"""The HTTP API application: :func:`create_app` builds it, ``glasshouse api`` serves it.

Routes live under ``/api/v1``. Each one parses and checks its input with pydantic (types, unknown
fields), hands a plain request to the service layer and returns the service's own JSON, so the
API and the CLI print the same object for the same input. A value the service refuses comes back
as 422 in FastAPI's own shape, ``{"detail": [{"loc": [...], "msg": ..., ...}]}``, with the field
named by its API name.

No route here reads or writes a tenant's data (staffing is pure maths), so none needs a caller
or a tenant yet; see :func:`create_app` for where that dependency goes.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glasshouse import __version__
from glasshouse.service.wfm_staffing import (
    StaffingError,
    StaffingLimits,
    StaffingRequest,
    staffing,
)

__all__ = [
    "API_PREFIX",
    "MAX_BODY_BYTES",
    "BodySizeLimit",
    "StaffingBody",
    "StaffingQuery",
    "create_app",
]

API_PREFIX: Final = "/api/v1"
# Every request body of this API is a small JSON object; anything larger is refused with 413
# before it is parsed.
MAX_BODY_BYTES: Final = 64 * 1024

_EXAMPLE: Final[dict[str, Any]] = {
    "calls": 100,
    "aht_s": 180,
    "interval_s": 1800,
    "service_level": 0.8,
    "threshold_s": 20,
    "max_occupancy": 0.85,
    "shrinkage": 0.3,
}
_EXAMPLE_ERLANG_A: Final[dict[str, Any]] = {
    "calls": 360,
    "aht_s": 240,
    "interval_s": 1800,
    "service_level": 0.8,
    "threshold_s": 20,
    "patience_s": 60,
    "max_abandon": 0.05,
}


# ---------------------------------------------------------------------------------------------
# What the staffing route takes


def _number(description: str, example: float) -> Any:
    return Field(description=description, examples=[example], allow_inf_nan=False)


def _optional(description: str, example: float, default: float | None = None) -> Any:
    return Field(default, description=description, examples=[example], allow_inf_nan=False)


class StaffingFields(BaseModel):
    """One interval to staff. Times in seconds, shares as fractions (0.8, not 80)."""

    model_config = ConfigDict(extra="forbid")

    calls: float = _number("Calls offered in the interval (>= 0).", 100)
    aht_s: float = _number("Average handle time in seconds (> 0).", 180)
    interval_s: float = _optional("Interval length in seconds (> 0).", 1800, 1800.0)
    service_level: float = _optional(
        "Service-level target: share of calls answered within threshold_s, strictly between "
        "0 and 1.",
        0.8,
        0.8,
    )
    threshold_s: float = _optional(
        "Service-level threshold: answered within this many seconds (>= 0).", 20, 20.0
    )
    patience_s: float | None = _optional(
        "Mean caller patience in seconds (> 0). Given: Erlang A, callers abandon. "
        "Left out: Erlang C, callers never abandon.",
        60,
    )
    max_occupancy: float | None = _optional("Occupancy cap, in (0, 1].", 0.85)
    shrinkage: float = _optional(
        "Share of paid time off the phones, in [0, 1); sets scheduled_agents.", 0.3, 0.0
    )
    asa_s: float | None = _optional(
        "Also keep the average speed of answer at or below this many seconds (> 0).", 30
    )
    max_abandon: float | None = _optional(
        "Erlang A only: also keep the abandon rate at or below this share, strictly between "
        "0 and 1.",
        0.05,
    )
    short_abandon_s: float | None = _optional(
        "Erlang A only: leave calls abandoned within this many seconds out of the service "
        "level, as the reports do (>= 0). Left out: every call counts.",
        5,
    )


class StaffingBody(StaffingFields):
    """The JSON body of ``POST /api/v1/wfm/staffing``: numbers must be JSON numbers."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [_EXAMPLE, _EXAMPLE_ERLANG_A]}
    )


class StaffingQuery(StaffingFields):
    """The query parameters of ``GET /api/v1/wfm/staffing`` (text that reads as a number)."""


# ---------------------------------------------------------------------------------------------
# What it returns (documentation of StaffingResult.to_json; the route returns that object as is)


class Figures(BaseModel):
    """Predicted figures at one staffing level; null where unbounded or undefined."""

    agents: int
    service_level: float | None = Field(description="Share of calls answered within threshold_s.")
    asa_s: float | None = Field(description="Average speed of answer in seconds.")
    p_wait: float | None = Field(description="Probability that a call waits.")
    occupancy: float | None
    p_abandon: float | None = Field(None, description="Erlang A only: share of calls abandoned.")


class Predicted(BaseModel):
    """Predicted figures at the recommended staffing."""

    service_level: float | None
    asa_s: float | None
    p_wait: float | None
    occupancy: float | None
    p_abandon: float | None = Field(None, description="Erlang A only.")


class Inputs(BaseModel):
    """The workload as understood, with its offered load."""

    calls: float
    aht_s: float
    interval_s: float
    patience_s: float | None
    shrinkage: float
    offered_load_erlangs: float


class Targets(BaseModel):
    """The targets staffed for (null: not set)."""

    service_level: float
    threshold_s: float
    max_occupancy: float | None
    asa_s: float | None
    max_abandon: float | None
    short_abandon_s: float | None


class StaffingAnswer(BaseModel):
    """The staffing: the same object ``glasshouse wfm staffing --format json`` prints."""

    model: Literal["erlang_c", "erlang_a"]
    agents: int = Field(description="Agents needed on the phones: the staffing.")
    scheduled_agents: int = Field(description="Agents to schedule to keep that after shrinkage.")
    inputs: Inputs
    targets: Targets
    predicted: Predicted
    neighbours: list[Figures] = Field(
        description="Figures at up to two staffing levels on each side, and at the staffing."
    )


class Health(BaseModel):
    """The server answers."""

    status: Literal["ok"]
    version: str


# ---------------------------------------------------------------------------------------------
# Request size


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before the app sees it.

    The body is read in full (it is at most ``max_bytes``) before the app runs and then handed
    on, so a declared Content-Length and a chunked body are refused alike, with a JSON detail.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: bytes | None = b"".join(chunks)

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            message: Message = {"type": "http.request", "body": body, "more_body": False}
            body = None
            return message

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.max_bytes} bytes"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# Routes

_TOO_LARGE: Final[dict[int | str, dict[str, Any]]] = {
    413: {"description": f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."}
}


def _staffing_router(limits: StaffingLimits) -> APIRouter:
    router = APIRouter(tags=["workforce management"])

    def answer(fields: StaffingFields, where: str) -> JSONResponse:
        try:
            result = staffing(StaffingRequest(**fields.model_dump()), limits)
        except StaffingError as exc:
            error = {"type": "value_error", "loc": (where, exc.field), "msg": exc.reason()}
            raise RequestValidationError([{**error, "input": exc.value}]) from None
        return JSONResponse(result.to_json())

    description = (
        "Agents needed to answer a service-level share of one interval's calls within a "
        "threshold: Erlang C, or Erlang A (callers abandon) when patience_s is given. "
        "Returns the staffing (`agents`), the agents to schedule after shrinkage, and the "
        "predicted figures at that staffing and around it. Pure calculation: reads and writes "
        "no tenant data, so it needs no credentials."
    )

    @router.post(
        "/wfm/staffing",
        summary="Staff one interval (JSON body)",
        description=description,
        response_model=None,
        responses={200: {"model": StaffingAnswer}, **_TOO_LARGE},
    )
    def staffing_post(body: StaffingBody) -> JSONResponse:
        return answer(body, "body")

    @router.get(
        "/wfm/staffing",
        summary="Staff one interval (query parameters)",
        description=description,
        response_model=None,
        responses={200: {"model": StaffingAnswer}, **_TOO_LARGE},
    )
    def staffing_get(query: Annotated[StaffingQuery, Query()]) -> JSONResponse:
        return answer(query, "query")

    return router


def _health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="Liveness", responses=_TOO_LARGE)
    def health() -> Health:
        return Health(status="ok", version=__version__)

    return router


def create_app(*, staffing_limits: StaffingLimits | None = None) -> FastAPI:
    """The API application; ``staffing_limits`` bounds the work of one staffing request."""
    app = FastAPI(
        title="Glasshouse API",
        version=__version__,
        description=(
            "Contact-center platform API. The routes here touch no tenant data and need no "
            "credentials; routes that do will require them."
        ),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    limits = staffing_limits if staffing_limits is not None else StaffingLimits()
    # Public routes: pure calculations and liveness, no tenant data, so no caller is checked.
    app.include_router(_health_router(), prefix=API_PREFIX)
    app.include_router(_staffing_router(limits), prefix=API_PREFIX)
    # Routes that read or write a tenant's data go on their own router, built with
    # ``dependencies=[Depends(<resolve the caller and their tenant>)]`` and included here,
    # so that no such route can be added without it. The tenant it resolves is the first
    # argument of every service call those routes make.
    return app
