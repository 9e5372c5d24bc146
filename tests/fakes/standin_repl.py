#!/usr/bin/env python3
"""A stand-in for the Lean REPL, for tests only. It is not Lean and proves nothing.

It speaks the leanprover-community/repl stdin/stdout protocol in one of two recorded
dialects (``--dialect``): ``v4.20.1`` (the pinned REPL, branch ``bump_to_v4.20.1``; the
default) or ``v4.33.0-rc2``. Both sets are in ``tests/data/repl-<dialect>/``. As the real
REPL (``REPL/Main.lean``, ``getLines``/``parse``/``loop``) it reads a request as the
lines up to a blank line (``v4.33.0-rc2`` also strips each line's end and joins them), skips
a request starting with ``#`` or ``--``, stops at end of input, and *exits* on a request
that is not JSON (an empty one included, as a second blank line makes): ``uncaught
exception: {"message": "Could not parse JSON:..."}`` on stderr, exit code 1. It answers:

* ``--transcript NAME.in`` (a path, or a name under the dialect's ``test/`` folder):
  answer the i-th request with the i-th reply of ``NAME.expected.out``, byte for byte
  (the request text must match too).
* scripted (default): ``--script FILE.json`` says what "Lean" answers: either a
  map from exact command text to the reply object (``{"cmd": {...}}``, ``"*"``
  for any other), or a list of ``[substring, reply]`` rules, first match wins.
  Unknown commands get ``{"env": N}``. The reply's ``env`` is filled in with the
  running environment counter, as Lean numbers them. A negative message or
  sorry line counts from the command's end (-1 is its last line). Scripts are written
  in the pinned dialect's texts; in ``v4.33.0-rc2`` the texts known to differ
  (``DIALECT_TEXTS``) are rewritten as that REPL prints them.

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
DATA = Path(__file__).resolve().parent.parent / "data"
DIALECTS = ("v4.20.1", "v4.33.0-rc2")
DIALECT_TEXTS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "v4.20.1": [],
    # The same messages as v4.33.0-rc2 prints them (its test/*.expected.out against
    # v4.20.1's: dup_sorries, unknown_tactic, have_by_sorry, no_goal_sorry_2...).
    "v4.33.0-rc2": [
        (re.compile(r"^declaration uses 'sorry'$"), "declaration uses `sorry`"),
        (re.compile(r"^unknown identifier '(.*)'$", re.DOTALL), r"Unknown identifier `\1`"),
        (re.compile(r"^no goals to be solved$"), "No goals to be solved"),
    ],
}
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

    flag("dialect", choices=DIALECTS, default=DIALECTS[0])
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


def read_requests(stream: Any, dialect: str = DIALECTS[0]) -> Any:
    """Yield the queries the REPL's ``getLines`` reads: lines up to and including a blank
    line (or the end of input, which ends the stream). v4.20.1 keeps each line whole;
    v4.33.0-rc2 strips each non-blank line's end before joining (``trimAsciiEnd``)."""
    lines: list[str] = []
    for line in stream:
        if line.strip() == "":
            yield "".join(lines) + line
            lines = []
            continue
        lines.append(line if dialect == "v4.20.1" else line.rstrip())
    if lines:
        yield "".join(lines)


REQUEST_KEYS = {"cmd", "path", "tactic", "pickleTo", "unpickleEnvFrom", "unpickleProofStateFrom"}
"""A key each request kind of ``REPL/JSON.lean`` requires (``parse`` tries them in turn)."""


class BadRequest(Exception):
    """A query the REPL's ``parse`` throws on: the real REPL exits with it uncaught."""


def parse_request(text: str) -> dict[str, Any]:
    """The request object, or ``BadRequest`` with the REPL's error object as its text."""
    try:
        request = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        # The text after "Could not parse JSON:" is Lean's Json.parse error, not Python's.
        raise BadRequest(f"Could not parse JSON:\n{exc}") from exc
    if not isinstance(request, dict) or not REQUEST_KEYS & set(request):
        raise BadRequest("Could not parse as a valid JSON command:\n" + text.strip()[:200])
    return request


def in_dialect(reply: dict[str, Any], dialect: str) -> dict[str, Any]:
    """Rewrite the message texts known to differ into ``dialect``'s."""
    for message in reply.get("messages", []):
        for pattern, text in DIALECT_TEXTS[dialect]:
            if isinstance(message.get("data"), str):
                message["data"] = pattern.sub(text, message["data"])
    return reply


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

    def __init__(self, script: dict[str, Any] | list[list[Any]], dialect: str) -> None:
        self.script = script
        self.dialect = dialect
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
        return lean_style(in_dialect(reply, self.dialect))


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


def transcript_path(name: Path, dialect: str) -> Path:
    """``name`` as given if it exists, else under the dialect's recorded ``test/`` folder."""
    if name.exists():
        return name
    under = DATA / f"repl-{dialect}" / "test" / name
    return under if under.suffix == ".in" else under.with_name(under.name + ".in")


def load_transcript(path: Path, dialect: str) -> list[tuple[str, str]]:
    queries = read_requests(path.read_text().splitlines(keepends=True), dialect)
    requests = [q for q in queries if not q.startswith(("#", "--"))]
    out_path = path.with_name(path.name[: -len(".in")] + ".expected.out")
    replies = [r for r in out_path.read_text().split("\n\n") if r.strip()]
    return list(zip(requests, replies, strict=True))


def serve(args: argparse.Namespace) -> int:
    transcript: list[tuple[str, str]] | None = None
    if args.transcript is not None:
        transcript = load_transcript(transcript_path(args.transcript, args.dialect), args.dialect)
    script = json.loads(args.script.read_text()) if args.script else {}
    scripted = Scripted(script, args.dialect)
    i = 0
    for text in read_requests(sys.stdin, args.dialect):
        if text == "":  # getLines at the end of input: the loop returns
            break
        if text.startswith(("#", "--")):  # skipped, no reply (REPL/Main.lean, loop)
            continue
        received = time.monotonic()
        if args.log is not None:
            with open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps(text.rstrip("\n")) + "\n")
        if args.hang:
            time.sleep(10**6)
        busy = args.delay + (args.warmup if i == 0 else 0.0)
        grow(args.grow_mb)
        try:
            per_request_faults(marker_text(text))
            if transcript is not None:
                expected, reply = transcript[i] if i < len(transcript) else ("", "")
                if text.rstrip("\n") != expected.rstrip("\n"):
                    reply = lean_style({"message": f"standin: unexpected request {i}"})
            else:
                reply = scripted.answer(parse_request(text))
            # Answer `busy` seconds after the request arrived, our own work included.
            time.sleep(max(0.0, busy - (time.monotonic() - received)))
            write(reply + "\n\n")
        except _Answered:
            pass
        except BadRequest as exc:
            # `parse` throws an IO.userError of the error object; `main` does not catch it, so
            # the runtime prints it (lean_io_result_show_error) and the process exits with 1.
            sys.stderr.write(f"uncaught exception: {lean_style({'message': str(exc)})}\n")
            sys.stderr.flush()
            return 1
        i += 1
        if i == args.crash_after:
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
