"""Client for any OpenAI-compatible chat-completions server (``vllm serve MODEL``, ``models/server.py``).

Why: large models run fastest behind a serving engine; the evaluation must not care. Requests carry the exact
protocol prompt and the images as base64 PNG data URLs. Failure handling is per item: a request that still
fails after its retries (exponential backoff) comes back with an ``error`` and the run goes on; the predict loop
writes it, and a later run retries it. Concurrency is bounded by a thread pool.
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from .hf import Request

RETRYABLE_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)


def png_data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def chat_payload(model: str, request: Request, max_tokens: int, seed: int) -> dict:
    """Images first, then the prompt, like the transformers adapter's chat message."""
    content: list[dict] = [{"type": "image_url", "image_url": {"url": png_data_url(im)}} for im in request.images]
    content.append({"type": "text", "text": request.prompt})
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0.0, "seed": seed}


def content_text(content: object) -> str | None:
    """The answer text of a chat message's ``content``: None stays None (no answer), never the string "null".

    Why: stringifying a JSON null gave the answer "null", which scoring then counted as answered. Servers that
    return a list of parts get their text parts joined.
    """
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "".join(parts)
    return json.dumps(content)


@dataclass
class Completion:
    output: str | None
    error: str | None
    latency_s: float
    attempts: int


class OpenAIClient:
    """Bounded-concurrency chat-completions client with timeouts and retries with exponential backoff."""

    def __init__(self, base_url: str, model: str, *, max_tokens: int = 16, seed: int = 0, concurrency: int = 4,
                 timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 1.0, api_key: str | None = None):
        self.url = base_url.rstrip("/") + ("/chat/completions" if base_url.rstrip("/").endswith("/v1")
                                           else "/v1/chat/completions")
        self.model, self.max_tokens, self.seed = model, max_tokens, seed
        self.concurrency, self.timeout_s, self.retries, self.backoff_s = concurrency, timeout_s, retries, backoff_s
        self.api_key = api_key
        self._rng = random.Random(seed)  # jitter only; never affects outputs

    def _post(self, payload: dict) -> dict:
        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def complete(self, request: Request) -> Completion:
        payload = chat_payload(self.model, request, self.max_tokens, self.seed)
        t0 = time.perf_counter()
        error = "no attempt"
        for attempt in range(1, self.retries + 2):
            try:
                body = self._post(payload)
                text = content_text(body["choices"][0]["message"]["content"])
                return Completion(text, None, time.perf_counter() - t0, attempt)
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}: {exc.read()[:200].decode('utf-8', 'replace')}"
                if exc.code not in RETRYABLE_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                error = f"malformed response: {type(exc).__name__}: {exc}"
                break
            if attempt <= self.retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + 0.1 * self._rng.random()))
        return Completion(None, error, time.perf_counter() - t0, attempt)

    def map(self, requests: Sequence[Request],
            on_done: Callable[[int, Completion], None] | None = None) -> Iterator[tuple[int, Completion]]:
        """Run requests concurrently; yields ``(index, completion)`` in input order."""
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            futures = [pool.submit(self.complete, r) for r in requests]
            for i, fut in enumerate(futures):
                yield i, fut.result()
