"""The HTTP verification service: ``create_app(settings)`` over a warm ``ReplPool``.

Endpoints: ``POST /api/check`` (kimina-lean-server compatible), ``POST /api/verify``
(verdicts with every integrity check), ``POST /api/run`` (one REPL command, for
agents' sketches), ``GET /health``, ``GET /metrics`` (Prometheus), ``/docs``; and
kimina-lean-server's legacy ``POST /verify`` (alias ``/one_pass_verify_batch``) and ``GET /``.

Each snippet is checked on its own: one that hangs, crashes or cannot be run (code that
is not valid Unicode) never fails the others. A crash or an infrastructure fault (a worker
killed from outside, or gone before it read the snippet) is tried once more on another
worker; what remains is labelled with its ``CommandStatus``. Malformed requests (NaN,
bad ids) get 422, a batch larger than the queue can ever hold 413 with the limit, a full
queue 429; a client that goes away cancels its work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
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

from stepprover.errors import BatchTooLarge, LeanUnavailable, PoolBusy
from stepprover.lean.outcome import CommandOutcome, CommandStatus
from stepprover.lean.pool import ReplPool
from stepprover.lean.process import cancel_and_wait
from stepprover.lean.protocol import CommandRequest
from stepprover.lean.source import split_imports
from stepprover.lean.text import invalid_unicode_reason
from stepprover.lean.verify import LeanVerifier, Outcome, Verdict, Verifier, VerifyConfig
from stepprover.lean.wire import (
    CheckRequest,
    CheckResponse,
    LegacyVerifyRequest,
    ProofItem,
    ReplResponse,
    RunRequest,
    VerifyRequest,
    VerifyResponse,
    VerifyResult,
)
from stepprover.server.kimina import legacy_result, shift_positions
from stepprover.server.limits import BodySizeLimit
from stepprover.server.settings import ServiceSettings

_T = TypeVar("_T")
_DISCONNECT_POLL = 0.25
SHUTDOWN_WAIT = 10.0
"""Seconds the app's shutdown waits for cancelled requests to answer before closing the pool."""
_RETRIED = frozenset({CommandStatus.CRASH, CommandStatus.INFRASTRUCTURE})
log = logging.getLogger(__name__)


class Metrics:
    def __init__(self, pool: ReplPool) -> None:
        self.registry = CollectorRegistry()
        health = pool  # read through callbacks so the gauges are always current
        Gauge(
            "stepprover_queue_depth", "Requests waiting for a worker", registry=self.registry
        ).set_function(lambda: health._waiting)
        Gauge("stepprover_workers", "Warm REPL workers", registry=self.registry).set_function(
            lambda: len(health.worker_pids())
        )
        Gauge(
            "stepprover_worker_replacements",
            "Workers replaced (crash, timeout, recycle)",
            registry=self.registry,
        ).set_function(lambda: health._replaced)
        self.latency = Histogram(
            "stepprover_request_seconds",
            "Request latency",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600),
        )
        self.outcomes = Counter(
            "stepprover_outcomes", "Results by outcome", ["outcome"], registry=self.registry
        )
        self.cache_hits = Counter(
            "stepprover_verdict_cache_hits",
            "Verdicts answered without a Lean check of their own (stored, or joined one in flight)",
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "stepprover_verdict_cache_misses",
            "Verdicts the verdict cache passed to Lean",
            registry=self.registry,
        )
        self.cache_saved = Counter(
            "stepprover_verdict_cache_saved_seconds",
            "Lean seconds the verdict cache saved",
            registry=self.registry,
        )

    def record(self, verdict: Verdict, *, cache: bool) -> None:
        self.outcomes.labels(verdict.outcome.value).inc()
        if verdict.cached:
            self.cache_hits.inc()
            self.cache_saved.inc(verdict.saved_seconds)
        elif cache:
            self.cache_misses.inc()


class Service:
    """What the routes share: the pool, the verifier, metrics, the idempotency cache."""

    def __init__(self, pool: ReplPool, settings: ServiceSettings) -> None:
        self.pool = pool
        self.settings = settings
        lean = LeanVerifier(pool, VerifyConfig(timeout=settings.max_timeout))
        cache = settings.verdict_cache_settings()
        self.caching = cache.wrap(lean, lean.config) if cache else None
        self.verifier: Verifier = self.caching or lean
        self.metrics = Metrics(pool)
        self.done: OrderedDict[str, tuple[str, VerifyResponse]] = OrderedDict()
        """Finished /api/verify answers by idempotency scope, with their request's content."""
        self.in_flight: dict[str, tuple[str, SharedRun]] = {}
        self.pending = 0
        self.handlers: set[asyncio.Task[Any]] = set()
        """Requests waiting on checks: at shutdown they are answered before the pool closes."""

    async def stop_requests(self, grace: float = SHUTDOWN_WAIT) -> None:
        """Cancel the requests still running (each cancels its checks, killing their
        workers, and answers 503) and wait up to ``grace`` seconds for their answers."""
        pending = set(self.handlers)
        for handler in pending:
            if not handler.cancelling():  # cancelled twice, it would stop cancelling its checks
                handler.cancel()
        if pending:
            await asyncio.wait(pending, timeout=grace)

    @property
    def capacity(self) -> int:
        """Items the service holds at once: ``max_queue`` waiting beyond the busy workers."""
        return self.settings.max_queue + self.pool.size

    def admit(self, count: int) -> None:
        """Take ``count`` places (give them back with ``release``). Raises ``BatchTooLarge``
        (413) for a batch that could never fit, ``HTTPException`` 429 for one that does not
        fit now."""
        if count > self.capacity:
            raise BatchTooLarge(items=count, limit=self.capacity)
        if self.pending + count > self.capacity:
            raise HTTPException(
                429,
                f"queue full ({self.pending} in flight); retry later",
                headers={"Retry-After": "1"},
            )
        self.pending += count

    def release(self, count: int) -> None:
        self.pending -= count

    @contextmanager
    def admitted(self, count: int) -> Iterator[None]:
        """Hold ``count`` places while the work runs (see ``admit``)."""
        self.admit(count)
        try:
            yield
        finally:
            self.release(count)

    def timeout(self, requested: float | None) -> float:
        """Seconds for one item: the request's, at most ``max_timeout``; 0 or none: the maximum."""
        return min(requested or self.settings.max_timeout, self.settings.max_timeout)

    async def check_snippet(
        self,
        snippet_id: str,
        code: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        infotree: str | None,
    ) -> ReplResponse:
        """One snippet's ``/api/check`` result; never raises (but for cancellation)."""
        started = time.monotonic()
        try:
            return await self._check_snippet(snippet_id, code, timeout, infotree, started)
        except Exception as exc:  # a fault of ours must not take the batch's other snippets down
            log.exception("checking snippet %r failed", snippet_id)
            return ReplResponse(
                id=snippet_id,
                time=time.monotonic() - started,
                error=f"internal error of the service: {type(exc).__name__}: {exc}",
            )

    async def _check_snippet(
        self,
        snippet_id: str,
        code: str,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        infotree: str | None,
        started: float,
    ) -> ReplResponse:
        if reason := invalid_unicode_reason(code, "the code"):
            return ReplResponse(id=snippet_id, error=reason)
        source = split_imports(code)
        request = CommandRequest(cmd=source.body, infotree=infotree)
        attempts = 1
        outcome = await self._run_once(source.imports, request, timeout)
        if outcome.status in _RETRIED:  # a crash or a lost worker gets one more, on another worker
            attempts = 2
            outcome = await self._run_once(source.imports, request, timeout)
        self.metrics.outcomes.labels(outcome.status.value).inc()
        result = ReplResponse(
            id=snippet_id, time=time.monotonic() - started, status=outcome.status, attempts=attempts
        )
        if outcome.status is CommandStatus.TIMEOUT:  # kimina-lean-server's wording
            return result.model_copy(update={"error": "Lean REPL command timed out."})
        if outcome.status is CommandStatus.INFRASTRUCTURE:
            error = (
                f"infrastructure failure, not the snippet's fault (retry later): {outcome.error}"
            )
            return result.model_copy(update={"error": error})
        if outcome.status is CommandStatus.REFUSED:
            error = (
                "the snippet's imports were refused (its own fault: a retry gets the same): "
                f"{outcome.error}"
            )
            return result.model_copy(update={"error": error})
        if not outcome.ok:
            return result.model_copy(update={"error": outcome.error})
        reply = shift_positions(outcome.reply or {}, source.body_line_offset)
        return result.model_copy(update={"response": reply})

    async def _run_once(
        self,
        imports: str,
        request: CommandRequest,
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
    ) -> CommandOutcome:
        try:
            return await CommandOutcome.of(self.pool.run(imports, request, timeout))
        except PoolBusy as exc:
            return CommandOutcome.infrastructure(str(exc))

    async def verify_proof(self, proof: ProofItem, timeout: float) -> VerifyResult:  # noqa: ASYNC109 - see SketchRepl
        """One proof's ``/api/verify`` result; never raises (but for cancellation)."""
        try:
            if reason := invalid_unicode_reason(proof.statement or "", "the statement"):
                verdict = Verdict(outcome=Outcome.REJECTED, reason=reason)
            else:
                verdict = await self.verifier.check(
                    proof.code, statement=proof.statement, timeout=timeout
                )
        except LeanUnavailable as exc:
            return VerifyResult(
                id=proof.id,
                error_kind="infrastructure",
                error=f"infrastructure failure, not the proof's fault (retry later): {exc}",
            )
        except Exception as exc:  # a fault of ours must not take the batch's other proofs down
            log.exception("verifying proof %r failed", proof.id)
            return VerifyResult(
                id=proof.id,
                error_kind="internal",
                error=f"internal error of the service: {type(exc).__name__}: {exc}",
            )
        self.metrics.record(verdict, cache=self.caching is not None)
        return VerifyResult(id=proof.id, verdict=verdict)


class SharedRun:
    """One ``/api/verify`` run that several requests (retries with the same Idempotency-Key)
    may wait on; when the last of them goes away, the run is cancelled (freeing its workers)."""

    def __init__(self, work: Awaitable[VerifyResponse]) -> None:
        self.future: asyncio.Future[VerifyResponse] = asyncio.ensure_future(work)
        self.waiters = 0

    async def wait(self, request: Request) -> VerifyResponse:
        self.waiters += 1
        try:
            return await _until_disconnect(request, asyncio.shield(self.future))
        finally:
            self.waiters -= 1
            if self.waiters == 0 and not self.future.done():
                self.future.cancel()
                await asyncio.wait({self.future})  # until its workers are killed and reaped


async def _until_disconnect(request: Request, work: Awaitable[_T]) -> _T:
    """Run ``work``; if the client goes away first, cancel it (freeing its workers).

    Raises:
        HTTPException: 499, the client went away.
        LeanUnavailable: 503, the server is shutting down (it cancelled this request):
            the work is cancelled and its workers killed first, and the client told to retry.
    """
    task = asyncio.ensure_future(work)
    handler = asyncio.current_task()
    handlers = _service(request).handlers
    if handler is not None:
        handlers.add(handler)
    try:
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL)
            if not done and await request.is_disconnected():
                await cancel_and_wait(task)  # its cancellation kills and reaps its workers
                raise HTTPException(499, "client closed the request")
    except asyncio.CancelledError:
        # uvicorn cancels requests still running after its shutdown grace: answer them
        # (an exception escaping to uvicorn is logged with a traceback), workers killed.
        await cancel_and_wait(task)  # its cancellation kills and reaps its workers
        if handler is not None:
            handler.uncancel()
        raise LeanUnavailable("the service is shutting down; retry later") from None
    finally:
        handlers.discard(handler)
    return task.result()


def _writable(node: Any) -> Any:
    """``node`` with what strict JSON cannot hold replaced: NaN and infinities by their
    names, lone surrogates by their escapes."""
    if isinstance(node, float) and not math.isfinite(node):
        return str(node)
    if isinstance(node, str):
        return node.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(node, dict):
        return {_writable(k): _writable(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_writable(v) for v in node]
    return node


def _idempotency_scope(request: Request, api_key: str | None) -> str | None:
    """What a request's ``Idempotency-Key`` names: the key, bound, when the service requires
    an API key, to the caller's key (keys of different callers never meet)."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    caller = request.headers.get("Authorization", "") if api_key else ""
    return hashlib.sha256(f"{caller}\0{key}".encode("utf-8", "surrogateescape")).hexdigest()


def _content(body: VerifyRequest) -> str:
    """The request's content, as a digest (the same proofs in other JSON spelling: the same)."""
    # json, not pydantic: a lone surrogate (a proof's own answer) is escaped, not an error
    canonical = json.dumps(body.model_dump(), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


REUSED_KEY = (
    "this Idempotency-Key was used for a request with other content; a new request needs a new key"
)


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a worker
# thread, two thread hand-offs per request that cost more than the rest of the route.
async def _service_dependency(request: Request) -> Service:
    return _service(request)


_bearer = HTTPBearer(auto_error=False)


async def _authorised(
    svc: Annotated[Service, Depends(_service_dependency)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    key = svc.settings.api_key
    if key and (creds is None or creds.credentials != key):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


Svc = Annotated[Service, Depends(_service_dependency)]


def create_app(settings: ServiceSettings, *, pool: ReplPool | None = None) -> FastAPI:
    """Build the service. With ``pool`` given, the caller owns (and closes) it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = pool or ReplPool(settings.pool_config())
        app.state.service = service = Service(active, settings)
        try:
            yield
        finally:
            # uvicorn has cancelled the requests still running after its grace (serve sets
            # one); let them answer before the pool they wait on closes.
            await service.stop_requests()
            if service.caching is not None:
                service.caching.close()
            if pool is None:
                await active.close()

    app = FastAPI(title="stepprover verification service", version="1", lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    auth = [Depends(_authorised)]

    @app.get("/health")
    async def health(svc: Svc, response: Response) -> dict[str, Any]:
        """The pool's state; 503 while it is closed or can start no REPL (``last_start_error``
        says why), so a load balancer stops sending work that could only fail."""
        state = await svc.pool.health()
        if state.status != "ok":
            response.status_code = 503
        return {"status": state.status, **state.__dict__}

    @app.get("/api/health", dependencies=auth)
    async def authorised_health(svc: Svc, response: Response) -> dict[str, Any]:
        """``/health`` behind the key: a client checks its URL and key before its run starts."""
        return await health(svc, response)

    @app.get("/", include_in_schema=False)
    async def root(svc: Svc, response: Response) -> dict[str, str]:
        """kimina-lean-server answers ``GET /`` as its health check: ``{"status": "ok"}``."""
        status = (await svc.pool.health()).status
        if status != "ok":
            response.status_code = 503
        return {"status": status}

    @app.get("/metrics")
    async def metrics(svc: Svc) -> Response:
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def check_all(
        snippets: list[tuple[str, str]],
        timeout: float,  # noqa: ASYNC109 - see SketchRepl
        infotree: str | None,
        request: Request,
        svc: Service,
    ) -> list[ReplResponse]:
        with svc.admitted(len(snippets)), svc.metrics.latency.labels("check").time():
            checks = [svc.check_snippet(i, code, timeout, infotree) for i, code in snippets]
            if len(checks) == 1:  # most requests: no gather (a task and a future less)
                return [await _until_disconnect(request, checks[0])]
            return list(await _until_disconnect(request, asyncio.gather(*checks)))

    @app.post("/api/check", dependencies=auth, response_model=CheckResponse)
    async def check(body: CheckRequest, request: Request) -> Response:
        # The busiest route: the service read from the request (not a dependency) and the
        # answer written as it is built (not validated again on the way out).
        svc = _service(request)
        snippets = [(s.id, s.code) for s in body.snippets]
        results = await check_all(snippets, svc.timeout(body.timeout), body.infotree, request, svc)
        return Response(
            CheckResponse(results=results).model_dump_json(), media_type="application/json"
        )

    @app.post("/verify", dependencies=auth, summary="kimina-lean-server's legacy check")
    @app.post("/one_pass_verify_batch", dependencies=auth, include_in_schema=False)
    async def legacy_verify(body: LegacyVerifyRequest, request: Request, svc: Svc) -> JSONResponse:
        """A REPL check per code, as ``/api/check`` (not the integrity checks of ``/api/verify``),
        answered in Kimina's shape: ``{"results": [{"custom_id", "response": {..., "time"}}
        or {"custom_id", "error"}]}``."""
        snippets = [(str(c.custom_id), c.text) for c in body.codes]
        results = await check_all(
            snippets, svc.timeout(body.timeout), body.infotree_type, request, svc
        )
        return JSONResponse({"results": [legacy_result(r) for r in results]})

    @app.post("/api/verify", dependencies=auth)
    async def verify(body: VerifyRequest, request: Request, svc: Svc) -> VerifyResponse:
        # A retry (same key, same content) gets the first answer; a key used again for
        # other content is refused: answering it with the first body's verdicts would be a lie.
        key = _idempotency_scope(request, settings.api_key)
        content = _content(body)
        if key and key in svc.done:
            if svc.done[key][0] != content:
                raise HTTPException(422, REUSED_KEY)
            return svc.done[key][1]
        if key and key in svc.in_flight:
            if svc.in_flight[key][0] != content:
                raise HTTPException(422, REUSED_KEY)
            return await svc.in_flight[key][1].wait(request)
        timeout = svc.timeout(body.timeout)
        count = len(body.proofs)

        async def run_all() -> VerifyResponse:
            results = await asyncio.gather(*(svc.verify_proof(p, timeout) for p in body.proofs))
            if all(r.error_kind == "infrastructure" for r in results):
                raise LeanUnavailable(results[0].error or "")  # 503: the client retries it all
            return VerifyResponse(results=list(results))

        svc.admit(count)
        run = SharedRun(run_all())

        def finished(future: asyncio.Future[VerifyResponse]) -> None:
            svc.release(count)
            if key and svc.in_flight.get(key, (None, None))[1] is run:
                del svc.in_flight[key]
            if future.cancelled() or future.exception() is not None or not key:
                return
            response = future.result()
            if any(r.verdict is None for r in response.results):
                return  # not cached: a retry should check those proofs again
            svc.done[key] = (content, response)
            while len(svc.done) > settings.idempotency_cache:
                svc.done.popitem(last=False)

        run.future.add_done_callback(finished)
        if key:
            svc.in_flight[key] = (content, run)
        with svc.metrics.latency.labels("verify").time():
            return await run.wait(request)

    @app.post("/api/run", dependencies=auth)
    async def run(body: RunRequest, request: Request, svc: Svc) -> CommandOutcome:
        with svc.admitted(1), svc.metrics.latency.labels("run").time():
            return await _until_disconnect(
                request, svc.pool.run_command(body.imports, body.cmd, svc.timeout(body.timeout))
            )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and NaN or a lone surrogate in it cannot
        # be written as JSON: it would answer 500. The same 422, with the input made writable.
        return JSONResponse({"detail": _writable(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(BatchTooLarge)
    async def too_large(_: Request, exc: BatchTooLarge) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "limit": exc.limit, "items": exc.items}, status_code=413
        )

    @app.exception_handler(PoolBusy)
    async def busy(_: Request, exc: PoolBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": "1"})

    @app.exception_handler(LeanUnavailable)
    async def unavailable(_: Request, exc: LeanUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    return app
