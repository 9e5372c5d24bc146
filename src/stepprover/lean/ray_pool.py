"""Scale-out on Ray: one pool actor per node (or several), checks spread over all of them.

``RayVerifier`` has the same ``check`` and ``run_command`` as ``LeanVerifier``/``ReplPool``
and ``RemoteLean``, so eval and GRPO rollouts use a whole Ray cluster with one
option. Each actor owns a ``ReplPool`` sized from its node's CPUs and memory
(cores - 1, and free memory / expected worker RSS) and is pinned to that node.
Ray is an optional dependency (``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any

from stepprover.errors import RayUnavailable
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.pool import PoolConfig, PoolHealth, ReplPool
from stepprover.lean.verify import LeanVerifier, Verdict, VerifyConfig

_RESERVE_MB = 2048.0


class PoolActor:
    """Runs inside a Ray actor process: a warm pool and a verifier (async actor)."""

    def __init__(self, pool_config: PoolConfig, verify_config: VerifyConfig) -> None:
        self.pool = ReplPool(pool_config)
        self.verifier = LeanVerifier(self.pool, verify_config)

    async def check(
        self,
        code: str,
        statement: str | None,
        timeout: float | None,  # noqa: ASYNC109 - see SketchRepl
    ) -> dict[str, Any]:
        verdict = await self.verifier.check(code, statement=statement, timeout=timeout)
        return verdict.model_dump(mode="json")

    async def run_command(self, imports: str, cmd: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - see SketchRepl
        outcome = await self.pool.run_command(imports, cmd, timeout)
        return outcome.model_dump(mode="json")

    async def health(self) -> dict[str, Any]:
        import os

        state = await self.pool.health()
        return {"pid": os.getpid(), **dataclasses.asdict(state)}

    async def pool_health(self) -> dict[str, Any]:
        return dataclasses.asdict(await self.pool.health())

    async def close(self) -> None:
        await self.pool.close()


def node_worker_count(node: dict[str, Any], expected_worker_rss_mb: float) -> int:
    """Workers a node can hold: at most its CPUs - 1, and what its memory allows."""
    resources = node.get("Resources", {})
    cpus = int(resources.get("CPU", 1))
    memory_mb = float(resources.get("memory", 0)) / 2**20
    by_memory = int((memory_mb - _RESERVE_MB) // max(expected_worker_rss_mb, 1.0))
    return max(1, min(max(1, cpus - 1), by_memory))


class RayVerifier:
    """Spreads checks over ``PoolActor``s on every alive node of the connected Ray cluster."""

    def __init__(
        self,
        pool_config: PoolConfig,
        *,
        verify_config: VerifyConfig | None = None,
        actors_per_node: int = 1,
    ) -> None:
        try:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        except ImportError as exc:
            raise RayUnavailable("RayVerifier needs Ray: pip install -e '.[ray]'") from exc
        if not ray.is_initialized():
            raise RayUnavailable(
                "connect to a cluster first: ray.init(address='auto') or ray.init()"
            )
        remote_actor = ray.remote(PoolActor)
        self.verify_config = verify_config or VerifyConfig()
        self.actors: list[Any] = []
        for node in (n for n in ray.nodes() if n.get("Alive")):
            workers = pool_config.workers or node_worker_count(
                node, pool_config.expected_worker_rss_mb
            )
            per_actor = max(1, workers // actors_per_node)
            config = dataclasses.replace(pool_config, workers=per_actor)
            strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            for _ in range(actors_per_node):
                self.actors.append(remote_actor.options(
                    num_cpus=0, scheduling_strategy=strategy, max_concurrency=10_000,
                ).remote(config, self.verify_config))  # fmt: skip
        if not self.actors:
            raise RayUnavailable("the Ray cluster has no alive node")
        self._next = itertools.cycle(range(len(self.actors)))
        self._in_flight = [0] * len(self.actors)

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        text = code.decode("utf-8", errors="surrogateescape") if isinstance(code, bytes) else code
        data = await self._call("check", text, statement, timeout)
        return Verdict.model_validate(data)

    async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 - see SketchRepl
        """The actor's outcome as it sent it; an actor that died or could not be reached
        is an ``infrastructure`` outcome."""
        from ray.exceptions import RayError

        started = time.monotonic()
        try:
            data = await self._call("run_command", imports, cmd, timeout)
        except RayError as exc:
            return CommandOutcome.infrastructure(
                f"Ray: {type(exc).__name__}: {exc}", elapsed=time.monotonic() - started
            )
        return CommandOutcome.model_validate(data)

    async def health(self) -> list[dict[str, Any]]:
        return [await actor.health.remote() for actor in self.actors]

    async def pool_health(self) -> PoolHealth:
        """Every actor's pool summed as one (for the re-check of final timeouts under
        saturation)."""
        states = [await actor.pool_health.remote() for actor in self.actors]
        counts = {
            f.name: sum(s[f.name] for s in states)
            for f in dataclasses.fields(PoolHealth)
            if f.name not in ("closed", "last_start_error")
        }
        errors = [s["last_start_error"] for s in states if s["last_start_error"]]
        return PoolHealth(
            **counts,
            closed=all(s["closed"] for s in states),
            last_start_error=errors[0] if errors else None,
        )

    async def close(self) -> None:
        import ray

        for actor in self.actors:
            await actor.close.remote()
            ray.kill(actor)

    async def _call(self, method: str, *args: Any) -> dict[str, Any]:
        # The actor with the fewest calls in flight (ties in round-robin order).
        start = next(self._next)
        order = [(start + k) % len(self.actors) for k in range(len(self.actors))]
        index = min(order, key=lambda i: self._in_flight[i])
        self._in_flight[index] += 1
        try:
            result: dict[str, Any] = await getattr(self.actors[index], method).remote(*args)
            return result
        finally:
            self._in_flight[index] -= 1
