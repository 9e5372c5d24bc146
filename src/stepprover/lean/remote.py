"""The verifier and sketch REPL over HTTP: a client of ``stepprover serve``.

``RemoteLean`` has the same ``check`` (whole proofs → ``Verdict``) and ``run``
(one command → ``Reply``) as the local ``LeanVerifier`` and ``ReplPool``, so eval
and training switch between them with one option (``--lean-url``). Requests are
retried with exponential backoff on connection errors, 429 (honouring
Retry-After) and 5xx; ``/api/verify`` retries carry the same Idempotency-Key, so
a retried check is answered from the service's cache instead of run twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx

from stepprover.errors import LeanUnavailable, StepproverError
from stepprover.lean.protocol import CommandRequest, Reply, Request
from stepprover.lean.run_result import RunResult
from stepprover.lean.verify import Verdict


class RemoteError(StepproverError):
    """The service refused the request itself (4xx other than 401, 403, 404 and 429).

    A service that stays unreachable or answers 429/5xx after all retries raises
    ``LeanUnavailable`` (an outage: the sample gets no verdict)."""


class RemoteLean:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        retries: int = 6,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        http_timeout: float = 900.0,
        max_connections: int = 256,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=headers, timeout=http_timeout, transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )  # fmt: skip
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def check(self, code: str | bytes, *, statement: str | None = None,
                    timeout: float | None = None) -> Verdict:
        text = code.decode("utf-8", errors="surrogateescape") if isinstance(code, bytes) else code
        body = {"proofs": [{"id": "0", "code": text, "statement": statement}], "timeout": timeout}
        data = await self._post("/api/verify", body, {"Idempotency-Key": uuid.uuid4().hex})
        return Verdict.model_validate(data["results"][0]["verdict"])

    async def run(self, imports: str, request: Request, timeout: float) -> Reply:
        if not isinstance(request, CommandRequest):
            raise RemoteError("the service runs commands only (cmd), not tactic or pickle requests")
        data = await self._post("/api/run", {"imports": imports, "cmd": request.cmd, "timeout": timeout})
        return RunResult.model_validate(data).reply_or_raise(timeout)

    async def health(self) -> dict[str, Any]:
        response = await self.client.get("/health")
        response.raise_for_status()
        return dict(response.json())

    async def close(self) -> None:
        await self.client.aclose()

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                response = await self.client.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                wait = self._delay(attempt)
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code in (401, 403, 404):  # wrong key or URL: no Lean will answer
                    raise LeanUnavailable(f"verification service {self.client.base_url}{path}",
                                          f"answered {response.status_code}: {response.text[:200]}")
                if response.status_code != 429 and response.status_code < 500:
                    raise RemoteError(f"{path} answered {response.status_code}: {response.text[:500]}")
                last = f"HTTP {response.status_code}"
                wait = self._delay(attempt, response.headers.get("Retry-After"))
            if attempt < self.retries:
                await asyncio.sleep(wait)
        raise LeanUnavailable(f"verification service {self.client.base_url}{path}",
                              f"failed after {self.retries + 1} attempts ({last})")

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        jitter = 0.5 + random.random() / 2
        return float(min(self.max_backoff, self.backoff * 2**attempt) * jitter)
