"""Service settings, read from ``STEPPROVER_SERVICE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from stepprover.lean.pool import MATHLIB_WORKER_RSS_MB, PoolConfig
from stepprover.lean.sandbox import SandboxConfig, sandbox_user
from stepprover.lean.toolchain import REPL_MAX_RSS_MB, LeanSetup, repl_process
from stepprover.lean.verdict_cache import CacheSettings, cache_settings


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPPROVER_SERVICE_", frozen=True)

    repl_command: str | None = None
    """REPL command line; default: the Lean installed by `stepprover lean setup`."""
    lean_dir: Path | None = None
    workers: int | None = None
    expected_worker_rss_mb: float = MATHLIB_WORKER_RSS_MB
    max_commands_per_worker: int | None = 500
    max_rss_mb: float | None = REPL_MAX_RSS_MB
    """Hard cap: a worker whose process tree passes it is killed mid-request (``crash``)."""
    recycle_rss_mb: float | None = None
    """Soft threshold: a worker left above it after a command is replaced between requests.
    Default: ``RECYCLE_FRACTION`` (0.8) of ``max_rss_mb``, so it follows the cap; it must
    stay below the cap."""
    max_queue: int = 1000
    """Snippets allowed to wait for a worker; a request that would pass it gets 429."""
    api_key: str | None = None
    """When set, every /api call needs ``Authorization: Bearer <api_key>``."""
    max_body_bytes: int = 8 * 1024 * 1024
    max_timeout: float = 600.0
    idempotency_cache: int = 10_000
    """Completed /api/verify answers kept by Idempotency-Key, for client retries."""
    verdict_cache: bool | None = None
    """Answer a proof checked before from the service's verdict cache, shared by all its
    clients. Default: on with the installed Lean, off with ``repl_command``."""
    cache_dir: Path | None = None
    """Folder of the verdict cache (default ``~/.cache/stepprover`` of the service's user)."""
    sandbox: bool = True
    sandbox_memory_mb: int = 20_480
    sandbox_cpu_seconds: int = 3600
    sandbox_processes: int = 256
    sandbox_file_mb: int = 1024
    sandbox_user: str | None = None
    """``UID`` or ``UID:GID`` the sandboxed REPLs run as; default ``STEPPROVER_SANDBOX_USER``, else nobody.
    Its process limit is shared by every process of that uid, so give each service its own."""

    def verdict_cache_settings(self) -> CacheSettings | None:
        setup = LeanSetup() if self.lean_dir is None else LeanSetup(root=self.lean_dir)
        return cache_settings(self.verdict_cache, self.cache_dir, repl=self.repl_command, setup=setup)

    def pool_config(self) -> PoolConfig:
        uid, gid = sandbox_user(self.sandbox_user, "STEPPROVER_SERVICE_SANDBOX_USER")
        sandbox = SandboxConfig(
            uid=uid, gid=gid, memory_mb=self.sandbox_memory_mb, cpu_seconds=self.sandbox_cpu_seconds,
            processes=self.sandbox_processes, file_mb=self.sandbox_file_mb,
        ) if self.sandbox else None  # fmt: skip
        process = repl_process(self.repl_command, self.lean_dir, sandbox=sandbox, max_rss_mb=self.max_rss_mb)
        return PoolConfig(
            process=process, workers=self.workers, expected_worker_rss_mb=self.expected_worker_rss_mb,
            max_commands=self.max_commands_per_worker, max_queue=self.max_queue,
            recycle_rss_mb=self.recycle_rss_mb,
        )  # fmt: skip
