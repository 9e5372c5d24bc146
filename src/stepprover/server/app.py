"""The HTTP verification service: ``create_app(settings)`` over a warm ``ReplPool``.

Endpoints: ``POST /api/check`` (kimina-lean-server compatible), ``POST /api/verify``
(verdicts with every integrity check), ``POST /api/run`` (one REPL command, for
agents' sketches), ``GET /health``, ``GET /metrics`` (Prometheus), ``/docs``.
Each snippet is checked on its own: one that hangs or crashes never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from stepprover.errors import LeanUnavailable, PoolBusy
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import ReplPool
from stepprover.lean.protocol import CommandRequest
from stepprover.lean.source import split_imports
from stepprover.lean.verify import LeanVerifier, VerifyConfig
from stepprover.lean.wire import (
    CheckRequest,
    CheckResponse,
    ReplResponse,
    RunRequest,
    VerifyRequest,
    VerifyResponse,
    VerifyResult,
)
from stepprover.server.limits import BodySizeLimit
from stepprover.server.settings import ServiceSettings

_T = TypeVar("_T")
_DISCONNECT_POLL = 0.25


class Metrics:
    def __init__(self, pool: ReplPool) -> None:
        self.registry = CollectorRegistry()
        health = pool  # read through callbacks so the gauges are always current
        Gauge("stepprover_queue_depth", "Requests waiting for a worker",
              registry=self.registry).set_function(lambda: health._waiting)
        Gauge("stepprover_workers", "Warm REPL workers",
              registry=self.registry).set_function(lambda: len(health.worker_pids()))
        Gauge("stepprover_worker_replacements", "Workers replaced (crash, timeout, recycle)",
              registry=self.registry).set_function(lambda: health._replaced)
        self.latency = Histogram("stepprover_request_seconds", "Request latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600))
        self.outcomes = Counter("stepprover_outcomes", "Results by outcome", ["outcome"],
                                registry=self.registry)


class Service:
    """What the routes share: the pool, the verifier, metrics, the idempotency cache."""

    def __init__(self, pool: ReplPool, settings: ServiceSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.verifier = LeanVerifier(pool, VerifyConfig(timeout=settings.max_timeout))
        self.metrics = Metrics(pool)
        self.done: OrderedDict[str, VerifyResponse] = OrderedDict()
        self.in_flight: dict[str, asyncio.Future[VerifyResponse]] = {}
        self.pending = 0

    @contextmanager
    def admitted(self, count: int) -> Iterator[None]:
        """Hold ``count`` places while the work runs; refuse (429) what would overflow the
        queue (at most ``max_queue`` snippets waiting beyond the busy workers)."""
        if self.pending + count > self.settings.max_queue + self.pool.size:
            raise HTTPException(429, f"queue full ({self.pending} in flight); retry later",
                                headers={"Retry-After": "1"})
        self.pending += count
        try:
            yield
        finally:
            self.pending -= count

    def timeout(self, requested: float | None) -> float:
        return min(requested or self.settings.max_timeout, self.settings.max_timeout)

    async def check_snippet(self, snippet_id: str, code: str, timeout: float,
                            infotree: str | None) -> ReplResponse:
        started = time.monotonic()
        source = split_imports(code)
        request = CommandRequest(cmd=source.body, infotree=infotree)
        try:
            outcome = await CommandOutcome.of(self.pool.run(source.imports, request, timeout))
        except PoolBusy as exc:
            outcome = CommandOutcome.infrastructure(str(exc))
        self.metrics.outcomes.labels(outcome.status.value).inc()
        elapsed = time.monotonic() - started
        if outcome.status is CommandStatus.TIMEOUT:  # kimina-lean-server's wording
            return ReplResponse(id=snippet_id, time=elapsed, error="Lean REPL command timed out.")
        if not outcome.ok:
            return ReplResponse(id=snippet_id, time=elapsed, error=outcome.error)
        return ReplResponse(id=snippet_id, time=elapsed, response=outcome.reply)


async def _until_disconnect(request: Request, work: Awaitable[_T]) -> _T:
    """Run ``work``; if the client goes away first, cancel it (freeing its workers)."""
    task = asyncio.ensure_future(work)
    while not task.done():
        done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL)
        if not done and await request.is_disconnected():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task  # let the cancellation kill and reap the workers it held
            raise HTTPException(499, "client closed the request")
    return task.result()


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False)


def _authorised(
    svc: Annotated[Service, Depends(_service)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    key = svc.settings.api_key
    if key and (creds is None or creds.credentials != key):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


Svc = Annotated[Service, Depends(_service)]


def create_app(settings: ServiceSettings, *, pool: ReplPool | None = None) -> FastAPI:
    """Build the service. With ``pool`` given, the caller owns (and closes) it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = pool or ReplPool(settings.pool_config())
        app.state.service = Service(active, settings)
        try:
            yield
        finally:
            if pool is None:
                await active.close()

    app = FastAPI(title="stepprover verification service", version="1", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    auth = [Depends(_authorised)]

    @app.get("/health")
    async def health(svc: Svc) -> dict[str, Any]:
        state = await svc.pool.health()
        return {"status": "closed" if state.closed else "ok", **state.__dict__}

    @app.get("/metrics")
    async def metrics(svc: Svc) -> Response:
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/check", dependencies=auth)
    async def check(body: CheckRequest, request: Request, svc: Svc) -> CheckResponse:
        timeout = svc.timeout(body.timeout)
        with svc.admitted(len(body.snippets)), svc.metrics.latency.labels("check").time():
            results = await _until_disconnect(request, asyncio.gather(*(
                svc.check_snippet(s.id, s.code, timeout, body.infotree) for s in body.snippets)))
        return CheckResponse(results=list(results))

    @app.post("/api/verify", dependencies=auth)
    async def verify(body: VerifyRequest, request: Request, svc: Svc) -> VerifyResponse:
        key = request.headers.get("Idempotency-Key")
        if key and key in svc.done:
            return svc.done[key]
        if key and key in svc.in_flight:
            return await asyncio.shield(svc.in_flight[key])
        timeout = svc.timeout(body.timeout)

        async def run_all() -> VerifyResponse:
            verdicts = await asyncio.gather(*(
                svc.verifier.check(p.code, statement=p.statement, timeout=timeout) for p in body.proofs))
            for v in verdicts:
                svc.metrics.outcomes.labels(v.outcome.value).inc()
            return VerifyResponse(results=[VerifyResult(id=p.id, verdict=v)
                                           for p, v in zip(body.proofs, verdicts, strict=True)])

        with svc.admitted(len(body.proofs)):
            future: asyncio.Future[VerifyResponse] = asyncio.ensure_future(run_all())
            if key:
                svc.in_flight[key] = future
            try:
                with svc.metrics.latency.labels("verify").time():
                    response = await _until_disconnect(request, asyncio.shield(future))
            finally:
                svc.in_flight.pop(key or "", None)
        if key:
            svc.done[key] = response
            while len(svc.done) > settings.idempotency_cache:
                svc.done.popitem(last=False)
        return response

    @app.post("/api/run", dependencies=auth)
    async def run(body: RunRequest, request: Request, svc: Svc) -> CommandOutcome:
        with svc.admitted(1), svc.metrics.latency.labels("run").time():
            return await _until_disconnect(request, svc.pool.run_command(
                body.imports, body.cmd, svc.timeout(body.timeout)))

    @app.exception_handler(PoolBusy)
    async def busy(_: Request, exc: PoolBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "1"})

    @app.exception_handler(LeanUnavailable)
    async def unavailable(_: Request, exc: LeanUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    return app
