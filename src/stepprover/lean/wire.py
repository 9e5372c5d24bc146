"""HTTP bodies of the verification service: Kimina-compatible and native.

The Kimina-compatible shapes follow kimina-lean-server's client models
(``kimina_client.models``: CheckRequest, ReplResponse, CheckResponse) so that
existing clients work unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stepprover.lean.verify import Verdict


class Snippet(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    code: str


class CheckRequest(BaseModel):
    """``POST /api/check`` (Kimina-compatible)."""

    model_config = ConfigDict(extra="ignore")

    snippets: list[Snippet] = Field(min_length=1)
    timeout: int = Field(60, ge=1, description="Seconds per snippet")
    debug: bool = False
    reuse: bool = True
    infotree: Literal["full", "tactics", "original", "substantive"] | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> CheckRequest:
        if len({s.id for s in self.snippets}) != len(self.snippets):
            raise ValueError("`snippets` must have unique ids")
        return self


class ReplResponse(BaseModel):
    """One snippet's result: the REPL's reply, or an error (never both)."""

    id: str
    time: float = 0.0
    error: str | None = None
    response: dict[str, Any] | None = None


class CheckResponse(BaseModel):
    results: list[ReplResponse]


class ProofItem(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    code: str
    statement: str | None = None
    """Header + theorem ``... := by`` the proof must prove (enables the statement check)."""


class VerifyRequest(BaseModel):
    """``POST /api/verify`` (native): whole proofs with every integrity check."""

    proofs: list[ProofItem] = Field(min_length=1)
    timeout: float | None = Field(None, gt=0)


class VerifyResult(BaseModel):
    id: str
    verdict: Verdict


class VerifyResponse(BaseModel):
    results: list[VerifyResult]


class RunRequest(BaseModel):
    """``POST /api/run`` (native): one REPL command in the env of ``imports``."""

    imports: str = ""
    cmd: str
    timeout: float = Field(60.0, gt=0)
