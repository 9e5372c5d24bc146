#!/usr/bin/env python3
"""A stand-in for the Lean REPL, for tests only. It is not Lean and proves nothing.

It speaks the leanprover-community/repl stdin/stdout protocol (a JSON request
followed by a blank line in; a JSON reply followed by a blank line out) and
answers in one of two modes:

* ``--transcript NAME.in``: answer the i-th request with the i-th reply of
  ``NAME.expected.out``, byte for byte (the request text must match too).
* scripted (default): ``--script FILE.json`` says what "Lean" answers: either a
  map from exact command text to the reply object (``{"cmd": {...}}``, ``"*"``
  for any other), or a list of ``[substring, reply]`` rules, first match wins.
  Unknown commands get ``{"env": N}``. The reply's ``env`` is filled in with the
  running environment counter, as Lean numbers them. A negative message or
  sorry line counts from the command's end (-1 is its last line).

Faults, for every request (flags, or env vars ``STANDIN_<FLAG>`` with dashes
as underscores): ``--delay S`` answer after S seconds; ``--warmup S`` the first
command takes S seconds (like ``import Mathlib``); ``--grow-mb N`` allocate and
keep N MB per command; ``--fork-child`` run the real work in a child process and
wait on it, as ``lake exe repl`` does; ``--hang`` never answer; ``--crash-after K``
exit after K replies; ``--log FILE`` append every request received, one JSON line each
(one write per line, so several stand-ins can share the file).

Faults for one request, chosen by a marker anywhere in its command text
(``-- standin:NAME`` or ``-- standin:NAME=VALUE``): ``hang``, ``crash`` (exit
with a stderr line), ``exit-mid-reply`` (half a reply, then exit), ``garbage``
(a non-JSON reply), ``stderr-flood=MB``, ``big-reply=MB`` (a reply whose one
line is MB megabytes), ``sleep=S``, ``grow=MB``, and the sandbox probes
``try-socket``, ``try-write=PATH``, ``try-fork=N`` (report what happened as an
info message); ``crash-once=PATH`` and ``hang-once=PATH`` crash or hang unless PATH
exists (and create it),
``bad-utf8`` answers with bytes that are not UTF-8; ``pid-to=PATH`` writes the stand-in's
process id to PATH (for tests that kill it from outside).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MARKER = re.compile(r"--\s*standin:([a-z0-9-]+)(?:=([\w./-]+))?")
_held_memory: list[bytes] = []


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get

    def flag(name: str, **kw: Any) -> None:
        key = "STANDIN_" + name.upper().replace("-", "_")
        default = env(key)
        if kw.get("action") == "store_true":
            kw["default"] = default not in (None, "", "0")
        elif default is not None:
            kw["default"] = kw.get("type", str)(default)
        p.add_argument("--" + name, **kw)

    flag("transcript", type=Path, default=None)
    flag("script", type=Path, default=None)
    flag("delay", type=float, default=0.0)
    flag("warmup", type=float, default=0.0)
    flag("grow-mb", type=float, default=0.0)
    flag("fork-child", action="store_true")
    flag("hang", action="store_true")
    flag("crash-after", type=int, default=-1)
    flag("log", type=Path, default=None)
    return p.parse_args(argv)


def read_requests(stream: Any) -> Any:
    """Yield request texts: lines up to a blank line, as the REPL reads them."""
    lines: list[str] = []
    for line in stream:
        if line.strip() == "":
            if lines:
                yield "".join(lines).rstrip("\n")
                lines = []
            continue
        lines.append(line)
    if lines:
        yield "".join(lines).rstrip("\n")


def write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def lean_style(reply: dict[str, Any]) -> str:
    """Render a reply over several lines, one top-level field a line, as Lean's pretty printer
    does."""
    items = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in reply.items()]
    return "{" + ",\n ".join(items) + "}"


def grow(megabytes: float) -> None:
    if megabytes > 0:
        _held_memory.append(b"\x01" * int(megabytes * 1024 * 1024))


class Scripted:
    """Answers from a script (see the module doc); counts environments as Lean does."""

    def __init__(self, script: dict[str, Any] | list[list[Any]]) -> None:
        self.script = script
        self.next_env = 0

    def lookup(self, cmd: str, key: str = "*") -> dict[str, Any]:
        if isinstance(self.script, dict):
            return dict(self.script.get(cmd, self.script.get(key, {})))
        for pattern, reply in self.script:
            if pattern in cmd or pattern == key:
                return json.loads(json.dumps(reply))
        return {}

    def answer(self, request: dict[str, Any]) -> str:
        if "cmd" not in request:
            return lean_style(self.lookup("", "*tactic*") or {"message": "Unknown proof state."})
        env = request.get("env")
        if env is not None and not 0 <= env < self.next_env:
            return lean_style({"message": "Unknown environment."})
        cmd = request["cmd"]
        reply = self.lookup(cmd)
        if set(reply) == {"message"}:  # an error reply: no environment was made
            return lean_style(reply)
        last_line = cmd.count("\n") + 1
        for item in [*reply.get("messages", []), *reply.get("sorries", [])]:
            for key in ("pos", "endPos"):
                if item.get(key) and item[key]["line"] < 0:
                    item[key]["line"] += last_line + 1
        probe = sandbox_probe(cmd)
        if probe:
            reply.setdefault("messages", []).append(probe)
        reply.pop("env", None)
        reply["env"] = self.next_env
        self.next_env += 1
        return lean_style(reply)


def sandbox_probe(cmd: str) -> dict[str, Any] | None:
    """Try what a sandbox must stop, and report the outcome as an info message."""
    results = []
    for name, value in MARKER.findall(cmd):
        if name == "try-socket":
            try:
                s = socket.create_connection(("127.0.0.1", int(value or 9)), timeout=1)
                s.close()
                results.append("socket: connected")
            except OSError as exc:
                results.append(f"socket: {type(exc).__name__}")
        elif name == "try-write":
            try:
                Path(value).write_text("x")
                results.append("write: ok")
            except OSError as exc:
                results.append(f"write: {type(exc).__name__}")
        elif name == "try-fork":
            results.append(f"fork: {fork_children(int(value or 500))}")
    if not results:
        return None
    pos = {"line": 1, "column": 0}
    return {"severity": "info", "pos": pos, "endPos": pos, "data": "; ".join(results)}


def fork_children(n: int) -> str:
    children, failed = [], 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError:
            failed += 1
            continue
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return f"{len(children)} started, {failed} refused"


def marker_text(text: str) -> str:
    """The command text of a request (markers live there), or the raw text if it is not JSON."""
    try:
        request = json.loads(text, strict=False)
    except json.JSONDecodeError:
        return text
    return str(request.get("cmd", text)) if isinstance(request, dict) else text


def per_request_faults(text: str) -> None:
    """Act on the per-request markers that change how (or whether) the reply is written."""
    for name, value in MARKER.findall(text):
        if name == "hang":
            time.sleep(10**6)
        elif name == "crash":
            sys.stderr.write("standin: crash requested\n")
            sys.stderr.flush()
            os._exit(3)
        elif name == "exit-mid-reply":
            write('{"messages":\n [{"severity": "err')
            os._exit(4)
        elif name == "garbage":
            write("this is not JSON at all\n\n")
            raise _Answered
        elif name == "stderr-flood":
            chunk = "standin stderr noise " * 50 + "\n"
            for _ in range(int(float(value or 5) * 1024 * 1024 / len(chunk))):
                sys.stderr.write(chunk)
            sys.stderr.flush()
        elif name == "big-reply":
            size = int(float(value or 5) * 1024 * 1024)
            pos = {"line": 1, "column": 0}
            msg = {"severity": "info", "pos": pos, "endPos": pos, "data": "x" * size}
            write(json.dumps({"messages": [msg], "env": 0}) + "\n\n")
            raise _Answered
        elif name == "hang-once":
            if not os.path.exists(value):
                Path(value).write_text("hung once")
                time.sleep(10**6)
        elif name == "crash-once":
            if not os.path.exists(value):
                Path(value).write_text("crashed once")
                os._exit(6)
        elif name == "bad-utf8":
            sys.stdout.buffer.write(b'{"env": 0, "x": "\xff\xfe"}\n\n')
            sys.stdout.flush()
            raise _Answered
        elif name == "pid-to":
            Path(value + ".tmp").write_text(str(os.getpid()))
            os.replace(value + ".tmp", value)  # whole or absent, for a reader polling it
        elif name == "sleep":
            time.sleep(float(value))
        elif name == "grow":
            grow(float(value))


class _Answered(Exception):
    """The fault already wrote the reply."""


def serve(args: argparse.Namespace) -> int:
    transcript: list[tuple[str, str]] | None = None
    if args.transcript is not None:
        requests = list(read_requests(args.transcript.read_text().splitlines(keepends=True)))
        out_path = args.transcript.with_name(args.transcript.name[: -len(".in")] + ".expected.out")
        replies = [r for r in out_path.read_text().split("\n\n") if r.strip()]
        transcript = list(zip(requests, replies, strict=True))
    script = json.loads(args.script.read_text()) if args.script else {}
    scripted = Scripted(script)
    for i, text in enumerate(read_requests(sys.stdin)):
        received = time.monotonic()
        if args.log is not None:
            with open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps(text) + "\n")
        if args.hang:
            time.sleep(10**6)
        busy = args.delay + (args.warmup if i == 0 else 0.0)
        grow(args.grow_mb)
        try:
            per_request_faults(marker_text(text))
            if transcript is not None:
                expected, reply = transcript[i] if i < len(transcript) else ("", "")
                if text != expected:
                    reply = lean_style({"message": f"standin: unexpected request {i}"})
            else:
                try:
                    request = json.loads(text, strict=False)
                except json.JSONDecodeError as exc:
                    request = None
                    reply = lean_style({"message": f"Could not parse JSON:\n{exc}"})
                if request is not None:
                    reply = scripted.answer(request)
            # Answer `busy` seconds after the request arrived, our own work included.
            time.sleep(max(0.0, busy - (time.monotonic() - received)))
            write(reply + "\n\n")
        except _Answered:
            pass
        if i + 1 == args.crash_after:
            sys.stderr.write("standin: crash-after reached\n")
            return 5
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.fork_child:
        # The parent stays small and waits, as `lake exe repl` does: the memory is in the child.
        child_argv = [a for a in argv if a != "--fork-child"]
        env = {**os.environ, "STANDIN_FORK_CHILD": "0"}
        return subprocess.call([sys.executable, os.path.abspath(__file__), *child_argv], env=env)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
