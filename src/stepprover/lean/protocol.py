"""Typed requests and replies of the leanprover-community/repl JSON protocol.

Framing, as the REPL does it: each request is one JSON object followed by a
blank line; each reply is a (pretty-printed, possibly multi-line) JSON object
followed by a blank line. JSON strings never hold a raw newline, so a blank line
always ends a message.

Every parsed reply keeps the exact JSON object it came from in ``raw`` (a dict
in Lean's key order), because the agent feeds that object back to the model
byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from stepprover.errors import ReplProtocolError

MESSAGE_END = b"\n\n"


class _Wire(BaseModel):
    """Base for wire models: camelCase aliases, unknown fields kept, immutable."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow")


# --------------------------------------------------------------------------- requests


class _Request(_Wire):
    def to_json(self) -> dict[str, Any]:
        """The request as the JSON object the REPL expects (aliases, no nulls)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class CommandRequest(_Request):
    """Elaborate Lean source text, optionally in an earlier environment."""

    cmd: str
    env: int | None = None
    all_tactics: bool | None = Field(default=None, alias="allTactics")
    root_goals: bool | None = Field(default=None, alias="rootGoals")
    infotree: str | None = None
    """One of "full", "tactics", "original", "substantive"."""


class TacticRequest(_Request):
    """Run one tactic against a proof state returned by an earlier reply."""

    tactic: str
    proof_state: int = Field(alias="proofState")


Request: TypeAlias = CommandRequest | TacticRequest


def encode_request(request: Request) -> bytes:
    """Frame a request: compact JSON, UTF-8, then a blank line."""
    return json.dumps(request.to_json(), ensure_ascii=False).encode() + MESSAGE_END


# --------------------------------------------------------------------------- replies


class Pos(_Wire):
    line: int
    column: int


class Message(_Wire):
    severity: Literal["error", "warning", "info", "trace"] | str
    pos: Pos
    end_pos: Pos | None = Field(default=None, alias="endPos")
    data: str


class Sorry(_Wire):
    goal: str
    proof_state: int | None = Field(default=None, alias="proofState")
    pos: Pos | None = None
    """Absent for sorries left by a tactic-mode request."""
    end_pos: Pos | None = Field(default=None, alias="endPos")


class Tactic(_Wire):
    tactic: str
    goals: str
    proof_state: int | None = Field(default=None, alias="proofState")
    pos: Pos
    end_pos: Pos | None = Field(default=None, alias="endPos")
    used_constants: list[str] = Field(default_factory=list, alias="usedConstants")


class _Reply(_Wire):
    raw: dict[str, Any] = Field(exclude=True, repr=False)
    """The JSON object exactly as the REPL sent it (Lean's key order)."""

    def raw_json(self, *, drop: tuple[str, ...] = ()) -> str:
        """`json.dumps` of the raw reply minus the ``drop`` keys, as the reference demo writes
        it."""
        return json.dumps({k: v for k, v in self.raw.items() if k not in drop}, ensure_ascii=False)


class CommandReply(_Reply):
    """Answer to a command request."""

    env: int | None = None
    messages: list[Message] = Field(default_factory=list)
    sorries: list[Sorry] = Field(default_factory=list)
    tactics: list[Tactic] = Field(default_factory=list)
    infotree: Any = None


class TacticReply(_Reply):
    """Answer to a tactic request."""

    proof_state: int | None = Field(default=None, alias="proofState")
    goals: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    sorries: list[Sorry] = Field(default_factory=list)
    proof_status: str | None = Field(default=None, alias="proofStatus")
    traces: list[str] | None = None


class ErrorReply(_Reply):
    """The REPL refused the request ("Unknown environment."), or Lean threw on it: a
    command's answer is then the bare exception text, a tactic's starts "Lean error:\\n"."""

    message: str


Reply: TypeAlias = CommandReply | TacticReply | ErrorReply


def parse_reply(text: str) -> Reply:
    """Parse one framed reply (without its closing blank line) into a typed reply.

    Raises:
        ReplProtocolError: the text is not a JSON object of the REPL protocol.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplProtocolError(f"reply is not JSON ({exc.msg})", excerpt=text) from exc
    if not isinstance(raw, dict):
        raise ReplProtocolError("reply is not a JSON object", excerpt=text)
    return reply_from_json(raw)


def reply_from_json(raw: dict[str, Any]) -> Reply:
    """Type a reply object, keeping ``raw`` as given."""
    model: type[_Reply]
    if set(raw) == {"message"}:
        model = ErrorReply
    elif "goals" in raw or "proofStatus" in raw:
        model = TacticReply
    else:
        model = CommandReply
    try:
        return model.model_validate({**raw, "raw": raw})
    except ValueError as exc:
        raise ReplProtocolError(
            f"reply does not match {model.__name__}: {exc}", excerpt=json.dumps(raw)[:200]
        ) from exc


def split_messages(stream: str) -> list[str]:
    """Split a stream of framed messages (a transcript) into the messages' texts."""
    return [chunk for chunk in stream.split("\n\n") if chunk.strip()]
