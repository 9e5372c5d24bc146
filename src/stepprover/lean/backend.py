"""Where Lean runs for prove, eval and training: local warm REPLs, the verification
service, or a Ray cluster. Each gives a sketch REPL and a verifier; the verifier is
wrapped so that a final check that timed out behind a saturated pool is run once more."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from stepprover.errors import LeanBackendError
from stepprover.lean.pool import PoolConfig, PoolHealth, ReplPool
from stepprover.lean.remote import RemoteLean
from stepprover.lean.verdict_cache import CacheSettings
from stepprover.lean.verify import (
    LeanVerifier,
    Outcome,
    SketchRepl,
    Verdict,
    Verifier,
    VerifyConfig,
)

HealthProbe = Callable[[], Awaitable[PoolHealth]]
"""Reads the state of the pool(s) that run the checks (``ReplPool.health``,
``RemoteLean.pool_health``, ``RayVerifier.pool_health``)."""


class RecheckingVerifier:
    """A final check that timed out while the pool was saturated is run once more
    on an idle worker before it counts as a timeout.

    ``until_free`` waits for a free worker (``ReplPool.until_free``, an event wait); without
    it, ``health`` is asked every ``poll`` seconds (the service and the Ray actors report
    their state only when asked)."""

    def __init__(
        self,
        verifier: Verifier,
        health: HealthProbe,
        poll: float = 0.05,
        until_free: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.verifier = verifier
        self.health = health
        self.poll = poll
        self.until_free = until_free

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        queued = await self._no_free_worker()
        verdict = await self.verifier.check(code, statement=statement, timeout=timeout)
        if verdict.outcome is not Outcome.TIMEOUT or not (queued or await self._others_waiting()):
            return verdict
        if self.until_free is not None:
            await self.until_free()
        else:
            while await self._no_free_worker():  # noqa: ASYNC110 - a remote pool is known by asking
                await asyncio.sleep(self.poll)
        again = await self.verifier.check(code, statement=statement, timeout=timeout)
        return again.model_copy(update={"attempts": verdict.attempts + again.attempts})

    async def _no_free_worker(self) -> bool:
        """A check started now would wait: nothing idle, no room to start a worker."""
        return (await self.health()).saturated

    async def _others_waiting(self) -> bool:
        return (await self.health()).waiting > 0


@dataclasses.dataclass(frozen=True)
class LeanBackend:
    pool_config: PoolConfig | None
    """Local warm REPLs (also the per-node pool of a Ray cluster)."""
    url: str | None = None
    """The verification service (`stepprover serve`) instead."""
    api_key: str | None = None
    ray_address: str | None = None
    """Spread the pool over a Ray cluster ("auto": the cluster this machine belongs to)."""
    cache: CacheSettings | None = None
    """The verdict cache around local and Ray verifiers (the service keeps its own)."""

    @contextlib.contextmanager
    def _cached(self, verifier: Verifier, config: VerifyConfig) -> Iterator[Verifier]:
        if self.cache is None:
            yield verifier
            return
        caching = self.cache.wrap(verifier, config)
        try:
            yield caching
        finally:
            caching.close()

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[tuple[SketchRepl, Verifier]]:
        """The sketch REPL and the (re-checking) verifier, closed on exit."""
        if self.url:
            remote = RemoteLean(self.url, api_key=self.api_key)
            try:
                await remote.preflight()
                yield remote, RecheckingVerifier(remote, remote.pool_health)
            finally:
                await remote.close()
            return
        if self.pool_config is None:
            raise LeanBackendError("LeanBackend needs a pool_config or a url")
        if self.ray_address:
            import ray

            from stepprover.lean.ray_pool import RayVerifier

            ray.init(address=self.ray_address, ignore_reinit_error=True)
            distributed = RayVerifier(self.pool_config)
            try:
                rechecking = RecheckingVerifier(distributed, distributed.pool_health)
                with self._cached(rechecking, distributed.verify_config) as verifier:
                    yield distributed, verifier
            finally:
                await distributed.close()
            return
        async with ReplPool(self.pool_config) as pool:
            lean = LeanVerifier(pool)
            rechecking = RecheckingVerifier(lean, pool.health, until_free=pool.until_free)
            with self._cached(rechecking, lean.config) as verifier:
                yield pool, verifier
