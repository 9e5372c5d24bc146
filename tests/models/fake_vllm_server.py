"""A local HTTP server imitating vLLM's /v1/completions, for tests (127.0.0.1 only)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], tuple[list[int], str, int | None]]
"""request body -> (generated token ids, finish_reason, stop_reason)."""


class FakeVllmState:
    def __init__(
        self,
        respond: Responder,
        *,
        fail_first: int = 0,
        delay: float = 0.0,
        return_token_ids: bool = True,
        decode: Callable[[list[int]], str] = str,
    ) -> None:
        self.respond = respond
        self.fail_first = fail_first
        self.delay = delay
        self.return_token_ids = return_token_ids
        self.decode = decode
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


def make_handler(state: FakeVllmState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append(body)
                failing = len(state.requests) <= state.fail_first
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                time.sleep(state.delay)
                if failing:
                    self._send(503, {"error": {"message": "overloaded"}})
                    return
                ids, finish, stop = state.respond(body)
                logprobs = None
                if (
                    body.get("logprobs") is not None
                ):  # the sampled token's logprob: -0.5 for each here
                    logprobs = {
                        "tokens": [f"token_id:{t}" for t in ids],
                        "token_logprobs": [-0.5] * len(ids),
                        "top_logprobs": None,
                        "text_offset": [0] * len(ids),
                    }
                choice: dict[str, Any] = {
                    "index": 0,
                    "text": state.decode(ids),
                    "logprobs": logprobs,
                    "finish_reason": finish,
                    "stop_reason": stop,
                }
                if state.return_token_ids and body.get("return_token_ids"):
                    choice["token_ids"] = ids
                self._send(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "text_completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [choice],
                        "usage": {
                            "prompt_tokens": len(body["prompt"]),
                            "completion_tokens": len(ids),
                            "total_tokens": len(body["prompt"]) + len(ids),
                        },
                    },
                )
            finally:
                with state.lock:
                    state.in_flight -= 1

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(
                    200, {"object": "list", "data": [{"id": "served-model", "object": "model"}]}
                )
            else:
                self._send(404, {"error": {"message": "not found"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_vllm_server(state: FakeVllmState) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


RawAnswer = tuple[int, str, bytes]
"""(HTTP status, content type, body) of one answer, sent as it is."""


def completion_answer(choices: list[dict[str, Any]]) -> RawAnswer:
    """A 200 completion with these choices (the rest of vLLM's fields filled in)."""
    body = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m"}
    return 200, "application/json", json.dumps({**body, "choices": choices}).encode()


def json_answer(status: int, payload: Any) -> RawAnswer:
    return status, "application/json", json.dumps(payload).encode()


def text_completion(tokenizer: Any, text: str) -> RawAnswer:
    """A 200 completion of ``text`` ending at EOS, with vLLM's token ids."""
    ids = [*tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
    choice = {"index": 0, "text": text, "finish_reason": "stop", "stop_reason": None}
    return completion_answer([{**choice, "token_ids": ids}])


@contextmanager
def answering_server(
    answer: Callable[[int, dict[str, Any]], RawAnswer],
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server answering the i-th POST (0-based) with ``answer(i, body)``, whatever that
    is (an HTML page, a 4xx, a completion with bad fields). Yields (base URL, the request
    bodies received)."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                index = len(received)
                received.append(body)
            status, content_type, data = answer(index, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
