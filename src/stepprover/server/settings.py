"""Service settings, read from ``STEPPROVER_SERVICE_*`` environment variables.

Every number is checked here (finite, in range, the recycle threshold below the cap), so
that a setting that would make the service useless (``MAX_TIMEOUT=0``: every proof times
out) is refused before it starts, naming its own variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stepprover.lean.pool import MATHLIB_WORKER_RSS_MB, PoolConfig
from stepprover.lean.sandbox import SandboxConfig, default_processes, sandbox_user
from stepprover.lean.toolchain import REPL_MAX_RSS_MB, LeanSetup, repl_process
from stepprover.lean.verdict_cache import CacheSettings, cache_settings

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A finite number above 0 (NaN, infinities, 0 and below are refused)."""
AtLeastOne = Annotated[int, Field(ge=1)]
AtLeastZero = Annotated[int, Field(ge=0)]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPPROVER_SERVICE_", frozen=True)

    repl_command: str | None = None
    """REPL command line; default: the Lean installed by `stepprover lean setup`."""
    lean_dir: Path | None = None
    workers: AtLeastOne | None = None
    expected_worker_rss_mb: Positive = MATHLIB_WORKER_RSS_MB
    max_commands_per_worker: AtLeastOne | None = 500
    max_rss_mb: Positive | None = REPL_MAX_RSS_MB
    """Hard cap: a worker whose process tree passes it is killed mid-request (``crash``)."""
    recycle_rss_mb: Positive | None = None
    """Soft threshold: a worker left above it after a command is replaced between requests.
    Default: ``RECYCLE_FRACTION`` (0.8) of ``max_rss_mb``, so it follows the cap; it must
    stay below the cap."""
    max_queue: AtLeastOne = 1000
    """Snippets allowed to wait for a worker; a request that would pass it gets 429."""
    api_key: str | None = None
    """When set, every /api call needs ``Authorization: Bearer <api_key>``."""
    max_body_bytes: AtLeastOne = 8 * 1024 * 1024
    max_timeout: Positive = 600.0
    """Seconds: the most a request may ask per item (and what 0 or none asks)."""
    idempotency_cache: AtLeastZero = 10_000
    """Completed /api/verify answers kept by Idempotency-Key, for client retries."""
    verdict_cache: bool | None = None
    """Answer a proof checked before from the service's verdict cache, shared by all its
    clients. Default: on with the installed Lean, off with ``repl_command``."""
    cache_dir: Path | None = None
    """Folder of the verdict cache (default ``~/.cache/stepprover`` of the service's user)."""
    sandbox: bool = True
    sandbox_memory_mb: AtLeastOne = 20_480
    sandbox_cpu_seconds: AtLeastOne = 3600
    sandbox_processes: AtLeastOne = Field(default_factory=default_processes)
    """RLIMIT_NPROC of the sandbox user; it counts threads, and Lean runs one per core
    (``sandbox.default_processes``)."""
    sandbox_file_mb: AtLeastOne = 1024
    sandbox_user: str | None = None
    """``UID`` or ``UID:GID`` the sandboxed REPLs run as; default ``STEPPROVER_SANDBOX_USER``,
    else nobody. Its process limit is shared by every process of that uid, so give each
    service its own."""

    @model_validator(mode="after")
    def _recycle_below_cap(self) -> ServiceSettings:
        cap, recycle = self.max_rss_mb, self.recycle_rss_mb
        if cap is not None and recycle is not None and recycle >= cap:
            raise ValueError(
                f"STEPPROVER_SERVICE_RECYCLE_RSS_MB ({recycle:g}) must be below "
                f"STEPPROVER_SERVICE_MAX_RSS_MB ({cap:g}), or workers are killed mid-request "
                "instead of recycled between requests"
            )
        return self

    def verdict_cache_settings(self) -> CacheSettings | None:
        setup = LeanSetup() if self.lean_dir is None else LeanSetup(root=self.lean_dir)
        return cache_settings(
            self.verdict_cache, self.cache_dir, repl=self.repl_command, setup=setup
        )

    def pool_config(self) -> PoolConfig:
        """Raises ``SandboxUnavailable`` (a sandbox user that does not parse, only with the
        sandbox on), ``ValueError`` (a REPL command line that does not parse)."""
        sandbox = None
        if self.sandbox:  # the user matters only to the sandbox: unparsed without it
            uid, gid = sandbox_user(self.sandbox_user, "STEPPROVER_SERVICE_SANDBOX_USER")
            sandbox = SandboxConfig(
                uid=uid, gid=gid, memory_mb=self.sandbox_memory_mb,
                cpu_seconds=self.sandbox_cpu_seconds, processes=self.sandbox_processes,
                file_mb=self.sandbox_file_mb,
            )  # fmt: skip
        process = repl_process(
            self.repl_command, self.lean_dir, sandbox=sandbox, max_rss_mb=self.max_rss_mb
        )
        return PoolConfig(
            process=process, workers=self.workers,
            expected_worker_rss_mb=self.expected_worker_rss_mb,
            max_commands=self.max_commands_per_worker, max_queue=self.max_queue,
            recycle_rss_mb=self.recycle_rss_mb,
        )  # fmt: skip
