"""Where Lean runs for prove, eval and training: local warm REPLs, the verification
service, or a Ray cluster; each gives a sketch REPL and a verifier."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator

from stepprover.agent.loop import SketchRepl
from stepprover.eval.runner import RecheckingVerifier
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.remote import RemoteLean
from stepprover.lean.verdict_cache import CacheSettings
from stepprover.lean.verify import LeanVerifier, Verifier, VerifyConfig


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
        if self.url:
            remote = RemoteLean(self.url, api_key=self.api_key)
            try:
                yield remote, remote
            finally:
                await remote.close()
            return
        if self.pool_config is None:
            raise ValueError("LeanBackend needs a pool_config or a url")
        if self.ray_address:
            import ray

            from stepprover.lean.ray_pool import RayVerifier

            ray.init(address=self.ray_address, ignore_reinit_error=True)
            distributed = RayVerifier(self.pool_config)
            try:
                with self._cached(distributed, distributed.verify_config) as verifier:
                    yield distributed, verifier
            finally:
                await distributed.close()
            return
        async with ReplPool(self.pool_config) as pool:
            lean = LeanVerifier(pool)
            with self._cached(RecheckingVerifier(lean, pool), lean.config) as verifier:
                yield pool, verifier
