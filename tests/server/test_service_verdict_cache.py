"""The service's verdict cache: shared by all its clients, counted in /metrics (stand-in REPL)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from stepprover.lean.remote import RemoteLean
from tests.server.conftest import running_service, standin_settings
from tests.server.test_service import SCRIPT

GOOD = "import Mathlib\ntheorem t : True := good_proof"


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found[1])


def test_two_clients_share_the_services_cache(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    settings = standin_settings(
        "--script", script_file(SCRIPT), "--delay", "0.05", verdict_cache=True, cache_dir=tmp_path
    )

    async def check_with_two_clients(url: str) -> list[Any]:
        verdicts = []
        for _ in range(2):
            client = RemoteLean(url)
            try:
                verdicts.append(await client.check(GOOD))
            finally:
                await client.close()
        return verdicts

    with running_service(settings) as url:
        first, second = asyncio.run(check_with_two_clients(url))
        metrics = httpx.get(url + "/metrics").text
    assert first.proved and not first.cached
    assert second.proved and second.cached and second.saved_seconds >= 0.05
    assert metric(metrics, "stepprover_verdict_cache_hits_total") == 1
    assert metric(metrics, "stepprover_verdict_cache_misses_total") == 1
    assert metric(metrics, "stepprover_verdict_cache_saved_seconds_total") >= 0.05
    assert (tmp_path / "verdicts.sqlite").exists()


def test_the_cache_is_off_for_a_repl_command_unless_asked(
    script_file: Callable[[Any], str], tmp_path: Path
) -> None:
    settings = standin_settings("--script", script_file(SCRIPT), cache_dir=tmp_path)
    with running_service(settings) as url:
        for _ in range(2):
            body = {"proofs": [{"id": "a", "code": GOOD}]}
            verdict = httpx.post(url + "/api/verify", json=body, timeout=30).json()["results"][0][
                "verdict"
            ]
            assert verdict["outcome"] == "proved" and not verdict["cached"]
        metrics = httpx.get(url + "/metrics").text
    assert metric(metrics, "stepprover_verdict_cache_misses_total") == 0
    assert not (tmp_path / "verdicts.sqlite").exists()
