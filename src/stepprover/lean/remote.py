"""The verifier and sketch REPL over HTTP: a client of ``stepprover serve``.

``RemoteLean`` has the same ``check`` (whole proofs → ``Verdict``) and ``run_command``
(one command → ``CommandOutcome``) as the local ``LeanVerifier`` and ``ReplPool``, so eval
and training switch between them with one option (``--lean-url``). Requests are
retried with exponential backoff on connection errors, 429 (honouring
Retry-After) and 5xx; ``/api/verify`` retries carry the same Idempotency-Key, so
a retried check is answered from the service's cache instead of run twice. The
request and response bodies are the service's own models (``lean.wire``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from typing import Any

import httpx
from pydantic import BaseModel

from stepprover.errors import LeanUnavailable, RemoteError, RemoteUnreachable
from stepprover.lean.outcome import CommandOutcome
from stepprover.lean.pool import PoolHealth
from stepprover.lean.verify import Verdict, VerifyConfig, proof_text
from stepprover.lean.wire import ProofItem, RunRequest, VerifyRequest, VerifyResponse
from stepprover.models.bounded_http import DEFAULT_MAX_RESPONSE_BYTES, bounded_transport


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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # Every answer is read against max_response_bytes: an endless body is an error, not OOM.
        bounded = bounded_transport(
            transport or httpx.AsyncHTTPTransport(limits=limits), max_response_bytes
        )
        self.client = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=headers, timeout=http_timeout, transport=bounded,
            limits=limits,
        )  # fmt: skip
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def check(
        self,
        code: str | bytes,
        *,
        statement: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - see SketchRepl
    ) -> Verdict:
        """Raises ``RemoteUnreachable`` (a ``LeanUnavailable``) when the service cannot be
        reached after every retry, ``LeanUnavailable`` when it could get no worker for the
        proof, ``RemoteError`` when it refuses the request."""
        text = proof_text(code, statement, VerifyConfig().max_code_bytes)
        if isinstance(text, Verdict):  # as the service and the CLI answer it (JSON cannot send it)
            return text
        body = VerifyRequest(
            proofs=[ProofItem(id="0", code=text, statement=statement)], timeout=timeout
        )
        data = await self._post("/api/verify", body, {"Idempotency-Key": uuid.uuid4().hex})
        result = VerifyResponse.model_validate(data).results[0]
        if result.verdict is None:  # the service could not check it: an outage, never a verdict
            raise LeanUnavailable(result.error or "the service gave no verdict")
        return result.verdict

    async def run_command(self, imports: str, cmd: str, timeout: float) -> CommandOutcome:  # noqa: ASYNC109 - see SketchRepl
        """The service's outcome as it sent it; an unreachable service is an
        ``infrastructure`` outcome. Raises ``RemoteError`` when the service refuses."""
        started = time.monotonic()
        try:
            data = await self._post(
                "/api/run", RunRequest(imports=imports, cmd=cmd, timeout=timeout)
            )
        except RemoteUnreachable as exc:
            return CommandOutcome.infrastructure(str(exc), elapsed=time.monotonic() - started)
        return CommandOutcome.model_validate(data)

    async def health(self) -> dict[str, Any]:
        """The service's ``/health`` (also while it answers 503: closed, or no REPL starts)."""
        response = await self.client.get("/health")
        if response.status_code != 503:
            response.raise_for_status()
        return dict(response.json())

    async def pool_health(self) -> PoolHealth:
        """The service's pool state (for the re-check of final timeouts under saturation)."""
        data = await self.health()
        return PoolHealth(
            **{f.name: data[f.name] for f in dataclasses.fields(PoolHealth) if f.name in data}
        )

    async def preflight(self) -> None:
        """Before a run: raise ``RemoteUnreachable`` (one line naming the URL) unless the
        service answers, takes the key and can start a REPL (retried as every request is),
        so that a wrong URL or key is found before the first trajectory, not after it."""
        await self._request("GET", "/api/health")

    async def close(self) -> None:
        await self.client.aclose()

    async def _post(self, path: str, body: BaseModel, headers: dict[str, str] | None = None) -> Any:
        return await self._request("POST", path, body.model_dump(mode="json"), headers)

    async def _request(
        self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                response = await self.client.request(method, path, json=payload, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                wait = self._delay(attempt)
            else:
                if 300 <= response.status_code < 400:  # not followed: the service never redirects
                    raise RemoteError(
                        f"{self.client.base_url}{path} answered {response.status_code}, a redirect "
                        f"to {response.headers.get('location')!r}: is this a stepprover service?"
                    )
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise RemoteError(
                            f"{self.client.base_url}{path} answered {response.status_code} without "
                            "JSON: is this a stepprover service?"
                        ) from exc
                if response.status_code in (401, 403, 404):  # wrong key or URL: no Lean will answer
                    hint = (
                        "; pass the service's key with --lean-api-key"
                        if response.status_code != 404
                        else ""
                    )
                    raise RemoteUnreachable(
                        f"verification service {self.client.base_url}{path}",
                        f"answered {response.status_code}: {response.text[:200]}{hint}",
                    )
                if response.status_code != 429 and response.status_code < 500:
                    raise RemoteError(
                        f"{path} answered {response.status_code}: {response.text[:500]}"
                    )
                last = f"HTTP {response.status_code}: {_reason(response)}"
                wait = self._delay(attempt, response.headers.get("Retry-After"))
            if attempt < self.retries:
                await asyncio.sleep(wait)
        raise RemoteUnreachable(
            f"verification service {self.client.base_url}{path}",
            f"failed after {self.retries + 1} attempts ({last})",
        )

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        jitter = 0.5 + random.random() / 2
        return float(min(self.max_backoff, self.backoff * 2**attempt) * jitter)


def _reason(response: httpx.Response) -> str:
    """A refusal's reason in a few words: ``detail``, or a ``/health`` status with why."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    if isinstance(body, dict) and "status" in body:
        return (
            f"{body['status']}: {body.get('last_start_error') or 'the service is shutting down'}"[
                :300
            ]
        )
    return response.text[:300]
