"""Where Lean runs for prove, eval and training: local warm REPLs, the verification
service, or a Ray cluster; each gives a sketch REPL and a verifier."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from stepprover.agent.loop import SketchRepl
from stepprover.eval.runner import RecheckingVerifier
from stepprover.lean.pool import PoolConfig, ReplPool
from stepprover.lean.remote import RemoteLean
from stepprover.lean.verify import LeanVerifier, Verifier


@dataclasses.dataclass(frozen=True)
class LeanBackend:
    pool_config: PoolConfig | None
    """Local warm REPLs (also the per-node pool of a Ray cluster)."""
    url: str | None = None
    """The verification service (`stepprover serve`) instead."""
    api_key: str | None = None
    ray_address: str | None = None
    """Spread the pool over a Ray cluster ("auto": the cluster this machine belongs to)."""

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
                yield distributed, distributed
            finally:
                await distributed.close()
            return
        async with ReplPool(self.pool_config) as pool:
            yield pool, RecheckingVerifier(LeanVerifier(pool), pool)
