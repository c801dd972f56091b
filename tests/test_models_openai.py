"""OpenAI-compatible path: our stdlib server over the tiny VLM, the client's retries, and per-item failures."""

import json
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from mammovqa.models.openai_backend import OpenAIClient
from mammovqa.models.predict import predict
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.predictions import read_predictions
from test_models_predict import make_items

torch.set_num_threads(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0, text_hidden=64)


def test_openai_backend_against_local_server_matches_hf_backend(tiny, tmp_path):
    items = make_items(tmp_path / "img", 6, exam_every=3)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mammovqa.models.server", "--model", str(tiny), "--port",
                               str(port), "--max-requests", "20", "--idle-timeout", "60", "--max-new-tokens", "4"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "serving" in server.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            assert json.load(r)["data"][0]["id"] == "tiny-vlm"
        out = tmp_path / "openai.jsonl"
        s = predict("tiny-vlm", items, out, backend="openai", base_url=f"http://127.0.0.1:{port}/v1",
                    max_new_tokens=4, concurrency=3, progress=False)
        assert s["written"] == 6 and s["errors"] == 0
        ref = tmp_path / "hf.jsonl"
        predict("tiny-vlm", items, ref, model_path=tiny, batch_size=4, max_new_tokens=4, progress=False)
        got = {k: v["output"] for k, v in read_predictions(out).rows.items()}
        want = {k: v["output"] for k, v in read_predictions(ref).rows.items()}
        assert got == want  # same adapter, same greedy decoding, images survive the PNG round trip
        assert read_predictions(out).provenance["backend"] == "openai"
    finally:
        server.kill()
        server.wait()


class Flaky(BaseHTTPRequestHandler):
    """Fails the first ``fails`` requests of each prompt with 503, then answers; 'boom' prompts always 500."""

    seen: dict = {}
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"][-1]["text"]
        with self.lock:
            n = self.seen[prompt] = self.seen.get(prompt, 0) + 1
        code, obj = 200, {"choices": [{"message": {"content": f"ok {n}"}}]}
        if "Right, B: Left" in prompt and n <= 2:
            code, obj = 503, {"error": "busy"}
        if "q0003" in prompt or "boom" in prompt:
            code, obj = 500, {"error": "boom"}
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_retries_backoff_and_per_item_errors(tmp_path):
    items = make_items(tmp_path / "img", 5)
    items[3].question = "boom?"
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        out = tmp_path / "p.jsonl"
        s = predict("tiny-vlm", items, out, backend="openai", base_url=url, retries=2, backoff_s=0.01,
                    concurrency=2, progress=False)
        rows = read_predictions(out).rows
        assert s["written"] == 5 and s["errors"] == 1
        assert rows[items[3].id]["error"].startswith("HTTP 500") and rows[items[3].id]["output"] is None
        # "Left, Right" items answer at once; "Right, Left" ones after two 503s (three attempts)
        assert rows["q0000"]["output"] == "ok 1" and rows["q0001"]["output"] == "ok 3"
        # a dead server: connection errors become per-item errors after the retries
        dead = OpenAIClient(f"http://127.0.0.1:{free_port()}/v1", "m", retries=1, backoff_s=0.01, timeout_s=2)
        comp = dead.complete(__import__("mammovqa.models.hf", fromlist=["Request"]).Request("x", []))
        assert comp.output is None and comp.attempts == 2 and "URLError" in comp.error
    finally:
        srv.shutdown()
        srv.server_close()
