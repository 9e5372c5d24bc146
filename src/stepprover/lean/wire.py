"""HTTP bodies of the verification service: Kimina-compatible and native.

The Kimina-compatible shapes follow kimina-lean-server's client models
(``kimina_client.models`` of kimina-client 0.2.1: CheckRequest, ReplResponse,
CheckResponse, and the legacy VerifyRequestBody / VerifyResponse of ``POST /verify``)
so that existing clients work unchanged.

Ids must be valid Unicode (no lone surrogate), or no reply could name them: 422.
Code and statements may hold anything: what cannot run becomes that item's own answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from stepprover.lean.outcome import CommandStatus
from stepprover.lean.text import invalid_unicode_reason
from stepprover.lean.verify import Verdict


def _valid_unicode(text: str) -> str:
    if reason := invalid_unicode_reason(text, "the text"):
        raise ValueError(reason)
    return text


UnicodeText = Annotated[str, AfterValidator(_valid_unicode)]
"""Text that must be valid Unicode (the request is refused, 422, if not)."""
ItemId = Annotated[UnicodeText, Field(min_length=1, max_length=200)]
Seconds = Annotated[int, Field(ge=0, description="Seconds per snippet; 0: the service's maximum")]


class Snippet(BaseModel):
    id: ItemId
    code: str


class CheckRequest(BaseModel):
    """``POST /api/check`` (Kimina-compatible)."""

    model_config = ConfigDict(extra="ignore")

    snippets: list[Snippet] = Field(min_length=1)
    timeout: Seconds = 60
    """0 is allowed, as kimina-client allows it (``ge=0``): it means the service's maximum."""
    debug: bool = False
    reuse: bool = True
    infotree: Literal["full", "tactics", "original", "substantive"] | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> CheckRequest:
        if len({s.id for s in self.snippets}) != len(self.snippets):
            raise ValueError("`snippets` must have unique ids")
        return self


class ReplResponse(BaseModel):
    """One snippet's result: the REPL's reply, or an error (never both).

    Positions in ``response`` refer to the snippet as sent (its import lines counted),
    as kimina-lean-server answers since its #55."""

    id: str
    time: float = 0.0
    error: str | None = None
    response: dict[str, Any] | None = None
    status: CommandStatus | None = None
    """What became of the REPL command (``lean.outcome``): ``crash`` is the snippet's own
    (it took down a fresh worker twice), and so is ``refused`` (its imports were refused:
    not retried), ``infrastructure`` is not (no worker, a worker killed from outside or
    gone before reading it: retry later). ``None``: it never reached the REPL
    (e.g. code that is not valid Unicode). Extra to Kimina's shape; its clients ignore it."""
    attempts: int = 0
    """Workers the command was given to (a crash or an infrastructure fault is tried twice)."""


class CheckResponse(BaseModel):
    results: list[ReplResponse]


class ProofItem(BaseModel):
    id: ItemId
    code: str
    statement: str | None = None
    """Header + theorem ``... := by`` the proof must prove (enables the statement check)."""


class VerifyRequest(BaseModel):
    """``POST /api/verify`` (native): whole proofs with every integrity check."""

    proofs: list[ProofItem] = Field(min_length=1)
    timeout: float | None = Field(
        None, ge=0, description="Seconds per proof; 0 or none: the maximum"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> VerifyRequest:
        # as /api/check: a client matches results to proofs by id
        if len({p.id for p in self.proofs}) != len(self.proofs):
            raise ValueError("`proofs` must have unique ids")
        return self


class VerifyResult(BaseModel):
    """One proof's verdict, or (``verdict`` null) why none could be reached."""

    id: str
    verdict: Verdict | None = None
    error: str | None = None
    error_kind: Literal["infrastructure", "internal"] | None = None
    """``infrastructure``: no worker could check it (retry later; never the proof's fault);
    ``internal``: a fault of the service itself. Either way, no verdict."""


class VerifyResponse(BaseModel):
    results: list[VerifyResult]


class RunRequest(BaseModel):
    """``POST /api/run`` (native): one REPL command in the env of ``imports`` (one item, so
    text that is not valid Unicode refuses the request)."""

    imports: UnicodeText = ""
    cmd: UnicodeText
    timeout: float = Field(60.0, gt=0)


# ---------------------------------------------------------------------- Kimina's legacy /verify


class LegacyCode(BaseModel):
    """One item of kimina-lean-server's legacy ``POST /verify`` (``proof`` or ``code``)."""

    custom_id: Annotated[int, Field(strict=True)] | ItemId
    proof: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _has_text(self) -> LegacyCode:
        if self.proof is None and self.code is None:
            raise ValueError(f"code {self.custom_id!r} has neither `proof` nor `code`")
        return self

    @property
    def text(self) -> str:
        return self.proof if self.proof is not None else self.code or ""


class LegacyVerifyRequest(BaseModel):
    """kimina-lean-server's ``POST /verify`` body (``VerifyRequestBody``): a REPL check per
    code, exactly as ``/api/check`` (no integrity checks: that is ``/api/verify``)."""

    codes: list[LegacyCode] = Field(min_length=1)
    timeout: Seconds = 300
    infotree_type: Literal["full", "tactics", "original", "substantive"] | None = None
    disable_cache: bool = False

    @model_validator(mode="after")
    def _unique_ids(self) -> LegacyVerifyRequest:
        # as /api/check: results are matched to codes by custom_id, answered as a string
        # (so 1 and "1" are the same id)
        if len({str(c.custom_id) for c in self.codes}) != len(self.codes):
            raise ValueError('`codes` must have unique custom_ids (1 and "1" are the same)')
        return self


class LegacyResult(BaseModel):
    """Kimina's ``BackwardResponse``: the REPL's reply with ``time`` added, or an error."""

    custom_id: str
    error: str | None = None
    response: dict[str, Any] | None = None
