"""A small OpenAI-compatible chat-completions server over a local checkpoint (stdlib only).

Why: it lets the OpenAI backend be tested end to end offline, and serves a local model to tools that speak the
OpenAI API, without vLLM. It binds 127.0.0.1 by default, answers one generation at a time (the model is not
thread-safe), and can stop itself after ``--max-requests`` requests or ``--idle-timeout`` seconds.

    python -m mammovqa.models.server --model models_local/tiny-vlm --port 8011
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image

from .hf import HFModel, Request

MAX_BODY = 64 << 20


def decode_image_url(url: str) -> Image.Image:
    """A base64 ``data:`` URL -> RGB image (remote URLs are refused: the server never goes online)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise ValueError("only base64 data URLs are accepted")
    data = base64.b64decode(url.split(";base64,", 1)[1])
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def parse_messages(messages: list[dict[str, Any]]) -> Request:
    """The last user message's text and images (the evaluation sends exactly one user turn)."""
    prompt_parts: list[str] = []
    images: list[Image.Image] = []
    for msg in messages:
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            prompt_parts.append(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                prompt_parts.append(part.get("text", ""))
            elif part.get("type") == "image_url":
                url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
                images.append(decode_image_url(url))
    return Request("\n".join(prompt_parts), images)


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], model: HFModel, name: str, max_requests: int | None = None):
        super().__init__(addr, Handler)
        self.model, self.name, self.max_requests = model, name, max_requests
        self.lock = threading.Lock()
        self.requests_served = 0
        self.last_activity = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def _send(self, code: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.name, "object": "model"}]})
        elif self.path.rstrip("/") in ("/health", ""):
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": {"message": f"unknown path {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        srv = self.server
        srv.last_activity = time.monotonic()
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, {"error": {"message": f"unknown path {self.path}"}})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_BODY:
                raise ValueError(f"request body over {MAX_BODY} bytes")
            body = json.loads(self.rfile.read(length))
            req = parse_messages(body["messages"])
            max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or srv.model.max_new_tokens)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            self._send(400, {"error": {"message": f"bad request: {exc}"}})
            return
        with srv.lock:
            text = srv.model.generate([req], max_new_tokens=max_tokens)[0]
            srv.requests_served += 1
        self._send(200, {"id": f"chatcmpl-{srv.requests_served}", "object": "chat.completion", "model": srv.name,
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}]})
        if srv.max_requests is not None and srv.requests_served >= srv.max_requests:
            threading.Thread(target=srv.shutdown, daemon=True).start()


def serve(model_path: str | Path, port: int, host: str = "127.0.0.1", name: str | None = None,
          max_requests: int | None = None, idle_timeout: float | None = None, max_new_tokens: int = 16,
          seed: int = 0) -> None:
    model = HFModel(model_path, max_new_tokens=max_new_tokens, seed=seed)
    srv = ModelServer((host, port), model, name or Path(model_path).name, max_requests)
    if idle_timeout:
        def watchdog() -> None:
            while True:
                time.sleep(min(1.0, idle_timeout))
                if time.monotonic() - srv.last_activity > idle_timeout:
                    srv.shutdown()
                    return

        threading.Thread(target=watchdog, daemon=True).start()
    print(f"serving {model_path} on http://{host}:{srv.server_address[1]}/v1", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mammovqa.models.server",
                                description="OpenAI-compatible chat-completions server over a local checkpoint.")
    p.add_argument("--model", required=True, help="checkpoint folder (or registry id with local weights)")
    p.add_argument("--port", type=int, default=8011)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--name", help="model name reported by /v1/models (default: folder name)")
    p.add_argument("--max-requests", type=int, help="stop after this many completions")
    p.add_argument("--idle-timeout", type=float, help="stop after this many seconds without requests")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    path = Path(a.model)
    if not path.is_dir():
        from .registry import find_weights

        path = find_weights(a.model)
    serve(path, a.port, a.host, a.name, a.max_requests, a.idle_timeout, a.max_new_tokens, a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
