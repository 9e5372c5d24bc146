"""The typed protocol against every golden transcript of the real REPL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stepprover.errors import ReplProtocolError
from stepprover.lean.protocol import (
    CommandReply,
    CommandRequest,
    ErrorReply,
    TacticReply,
    TacticRequest,
    encode_request,
    parse_reply,
    split_messages,
)
from tests.conftest import DATA, TRANSCRIPT_SETS

EXPECTED = sorted(p for folder in TRANSCRIPT_SETS.values() for p in folder.rglob("*.expected.out"))


def key_paths(value: Any, prefix: str = "") -> list[str]:
    """Every key of a JSON value, in document order, with its path."""
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            out.append(f"{prefix}/{k}")
            out += key_paths(v, f"{prefix}/{k}")
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in key_paths(v, f"{prefix}[{i}]")]
    return []


@pytest.mark.parametrize(("dialect", "at_least"), [("v4.20.1", 60), ("v4.33.0-rc2", 70)])
def test_transcripts_are_present(dialect: str, at_least: int) -> None:
    found = sorted(TRANSCRIPT_SETS[dialect].rglob("*.expected.out"))
    assert len(found) >= at_least, f"golden transcripts missing under {TRANSCRIPT_SETS[dialect]}"
    assert any("Mathlib" in str(p) for p in found)


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: str(p.relative_to(DATA)))
def test_every_golden_reply_parses_and_reserialises_losslessly(path: Path) -> None:
    for text in split_messages(path.read_text()):
        reply = parse_reply(text)
        original = json.loads(text)
        again = json.loads(json.dumps(reply.raw, ensure_ascii=False))
        assert again == original
        assert key_paths(again) == key_paths(original), "a field was lost or reordered"
        if isinstance(reply, ErrorReply):
            assert reply.message == original["message"]
        elif isinstance(reply, TacticReply):
            assert reply.goals == original.get("goals", [])
        else:
            assert isinstance(reply, CommandReply)
            assert reply.env == original.get("env")
            assert [m.data for m in reply.messages] == [
                m["data"] for m in original.get("messages", [])
            ]
            assert [s.goal for s in reply.sorries] == [
                s["goal"] for s in original.get("sorries", [])
            ]


def test_reply_types_and_fields() -> None:
    reply = parse_reply(
        '{"sorries":\n [{"proofState": 0,\n   "pos": {"line": 1, "column": 24},\n'
        '   "goal": "⊢ 1 = 1",\n   "endPos": {"line": 1, "column": 29}}],\n "env": 3}'
    )
    assert isinstance(reply, CommandReply)
    assert reply.env == 3 and reply.sorries[0].proof_state == 0
    assert reply.sorries[0].end_pos is not None and reply.sorries[0].end_pos.column == 29
    assert reply.raw_json(drop=("env",)) == (
        '{"sorries": [{"proofState": 0, "pos": {"line": 1, "column": 24}, '
        '"goal": "⊢ 1 = 1", "endPos": {"line": 1, "column": 29}}]}'
    )
    tactic = parse_reply('{"proofStatus": "Completed", "proofState": 1, "goals": []}')
    assert isinstance(tactic, TacticReply) and tactic.proof_status == "Completed"
    error = parse_reply('{"message": "Unknown environment."}')
    assert isinstance(error, ErrorReply) and error.message == "Unknown environment."


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"messages": 5}', '{"env": 0'])
def test_malformed_replies_raise_protocol_errors(bad: str) -> None:
    with pytest.raises(ReplProtocolError):
        parse_reply(bad)


def test_requests_are_framed_as_the_repl_reads_them() -> None:
    cmd = CommandRequest(cmd="theorem x : 1 = 1 := by\n  rfl", env=0, all_tactics=True)
    assert encode_request(cmd) == (
        b'{"cmd": "theorem x : 1 = 1 := by\\n  rfl", "env": 0, "allTactics": true}\n\n'
    )
    assert encode_request(TacticRequest(tactic="simp", proof_state=2)) == (
        b'{"tactic": "simp", "proofState": 2}\n\n'
    )
    assert CommandRequest.model_validate({"cmd": "x", "rootGoals": True}).root_goals is True


def test_every_golden_request_matches_a_request_model() -> None:
    models = {
        "cmd": CommandRequest,
        "tactic": TacticRequest,
    }
    seen = 0
    for path in (p for folder in TRANSCRIPT_SETS.values() for p in folder.rglob("*.in")):
        for text in split_messages(path.read_text()):
            raw = json.loads(text, strict=False)
            kind = next((k for k in models if k in raw), None)
            if kind is None:
                continue
            request = models[kind].model_validate(raw)
            assert request.to_json() == raw
            seen += 1
    assert seen > 200
