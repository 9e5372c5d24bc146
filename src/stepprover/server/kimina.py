"""What kimina-lean-server clients expect beyond the shared wire models: positions that
refer to the snippet as sent, and the legacy ``POST /verify`` answer's shape.

Read from project-numina/kimina-lean-server (server/routers/check.py, backward.py) and
the pinned kimina-client 0.2.1 (models.py)."""

from __future__ import annotations

from typing import Any

from stepprover.lean.wire import LegacyResult, ReplResponse


def shift_positions(reply: dict[str, Any], lines: int) -> dict[str, Any]:
    """``reply`` with every position (``{"line", "column"}``: of messages, sorries, tactics,
    the info tree) moved down ``lines`` lines: the REPL saw the snippet without its import
    lines, the client counts them (kimina-lean-server#55)."""
    if lines == 0:
        return reply

    def move(node: Any) -> Any:
        if isinstance(node, dict):
            moved = {k: move(v) for k, v in node.items()}
            if isinstance(node.get("line"), int) and isinstance(node.get("column"), int):
                moved["line"] = node["line"] + lines
            return moved
        if isinstance(node, list):
            return [move(v) for v in node]
        return node

    return move(reply)  # type: ignore[no-any-return]


def _without_nulls(node: Any, *, keep: frozenset[str] = frozenset({"infotree"})) -> Any:
    """Kimina answers with ``response_model_exclude_none``: every null in its typed fields is
    left out (the info tree is untyped there, so it is kept as is)."""
    if isinstance(node, dict):
        return {
            k: (v if k in keep else _without_nulls(v)) for k, v in node.items() if v is not None
        }
    if isinstance(node, list):
        return [_without_nulls(v) for v in node]
    return node


def legacy_result(result: ReplResponse) -> dict[str, Any]:
    """One item of the legacy ``/verify`` answer: Kimina's ``BackwardResponse`` (the reply with
    ``time`` added as its last key, or the error), nulls left out."""
    response = None if result.response is None else {**result.response, "time": result.time}
    item = LegacyResult(custom_id=result.id, error=result.error, response=response)
    return _without_nulls(item.model_dump())  # type: ignore[no-any-return]
