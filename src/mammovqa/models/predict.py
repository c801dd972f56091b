"""The resumable predict loop: QA items in, one prediction file (mammovqa.predictions format) out.

Why it looks like this: inference is the expensive step, so it must survive being killed (append-only file,
``done_ids`` skipped on re-run), split across machines (``shard=(i, n)`` by a stable hash of the item id, so the
shards are disjoint and cover everything whatever the item order), and never lose a whole run to one bad item
(an unreadable image or a failed request is written as that item's ``error`` and retried by the next run).
One writer and one source per file: the whole loop holds the file's lock (``io.file_lock``), and a file is only
continued when its provenance names the same backend, served model, weights, prompt set and items
(:data:`RESUME_KEYS`); anything else would append another source's answers to it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import MammoVQAError
from ..io import dumps, file_lock, provenance, sha256_text
from ..paths import resolve
from ..predictions import PredictionWriter, done_ids
from ..qa.items import QAItem, item_prompt
from .hf import HFModel, Request, load_rgb


def shard_of(item_id: str, n: int) -> int:
    """Stable shard index of an item id (sha256, so it never depends on Python's hash seed)."""
    return int(hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:12], 16) % n


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise MammoVQAError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise MammoVQAError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


class StalePredictions(MammoVQAError):
    """A prediction file was written by another source (weights, backend, server model, prompts, items)."""


# provenance keys that must match for a file to be continued; any difference means another source
RESUME_KEYS = ("model_id", "backend", "served_model", "model_fingerprint", "prompts_sha256", "data_sha256")


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
HASH_LIMIT = 2 << 30  # hash weight contents up to 2 GiB; above that, names + sizes + mtimes (7B checkpoints)


def model_fingerprint(path: str | Path | None) -> str | None:
    """Identity of a checkpoint's weights, so a resumed file is only ever continued by the same model.

    Why: after a re-training, resuming the old prediction file would silently mix answers of two checkpoints.
    """
    if path is None or not Path(path).is_dir():
        return None
    files = sorted(p for p in Path(path).rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    h = hashlib.sha256()
    by_content = sum(p.stat().st_size for p in files) <= HASH_LIMIT
    for p in files:
        h.update(p.relative_to(path).as_posix().encode())
        if by_content:
            h.update(p.read_bytes())
        else:
            st = p.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def prompts_checksum() -> str:
    """Hash of the prompt templates (topics.yaml ``prompts``): other templates ask other questions."""
    from ..config import load_topics

    return sha256_text(dumps(load_topics().prompts))


def single_value(values: set[str]) -> str | None:
    return next(iter(values)) if len(values) == 1 else None


def expected_provenance(model_id: str, items: Sequence[QAItem], *, backend: str, served_model: str | None,
                        fingerprint: str | None) -> dict[str, Any]:
    """The source-identifying provenance fields of a prediction file for these items (no ``model_id``)."""
    return {"backend": backend, "served_model": served_model, "model_fingerprint": fingerprint,
            "prompts_sha256": prompts_checksum(), "data_sha256": items_checksum(items),
            "split": single_value({it.split for it in items}), "level": single_value({it.level for it in items})}


def check_resumable(out_path: str | Path, expected: dict[str, Any], on_mismatch: str,
                    model_id: str | None = None, keys: Sequence[str] = RESUME_KEYS) -> None:
    """Refuse (``error``) or start over (``restart``) when ``out_path`` holds another source's answers.

    Another source: any of ``keys`` (default :data:`RESUME_KEYS`; the weight-free baselines name their own)
    differs from the file's provenance (a key the old file lacks counts as different: its source is unknown), or
    the file has answers but no provenance at all.
    """
    from ..predictions import read_predictions

    out_path = Path(out_path)
    if not out_path.exists() or out_path.stat().st_size == 0:
        return
    old = read_predictions(out_path)
    want = dict(expected) | ({"model_id": model_id} if model_id is not None else {})
    if not old.provenance and not old.rows:
        return
    if not old.provenance:
        diffs = ["the file has no provenance line (unknown source)"]
    else:
        diffs = [f"{k}: {old.provenance.get(k)!r} -> {want[k]!r}" for k in keys
                 if k in want and old.provenance.get(k) != want[k]]
    if not diffs:
        return
    if on_mismatch == "restart":
        out_path.unlink()
        return
    weights = " (other weights)" if any(d.startswith("model_fingerprint") for d in diffs) else ""
    raise StalePredictions(f"{out_path} was written by another source{weights}: {'; '.join(diffs)}. Appending "
                           "would mix two sources' answers: delete the file, write to another --out, or pass "
                           "--restart-if-model-changed to start it over")


def _weights_path(model_id: str, model: HFModel | None, model_path: str | Path | None) -> Path | None:
    """Where the weights are, without loading them (a finished file must not cost a 7B model load)."""
    if model is not None:
        return Path(model.path)
    if model_path is not None:
        return Path(model_path)
    if Path(model_id).is_dir():
        return Path(model_id)
    from .registry import find_weights, load_models

    spec = load_models().get(model_id)
    return find_weights(spec) if spec is not None and spec.native else None


def items_checksum(items: Sequence[QAItem]) -> str:
    """Hash of the items as given (order-independent), recorded in the provenance line."""
    return sha256_text("\n".join(sorted(dumps(it.to_json()) for it in items)))


def load_model(model_id: str, *, max_new_tokens: int, seed: int, model_path: str | Path | None = None,
               device: str | None = None, generate_kwargs: dict[str, Any] | None = None) -> HFModel:
    """An ``HFModel`` for a registry id (weights looked up offline) or a checkpoint folder."""
    from .registry import find_weights, get_model, load_models

    path = Path(model_path) if model_path else None
    if path is None and Path(model_id).is_dir():
        path = Path(model_id)
    spec = load_models().get(model_id)
    if spec is None and path is None:
        spec = get_model(model_id)  # raises a ConfigError naming the known ids (or matches an hf_id)
    if spec is not None and not spec.native and path is None:
        raise MammoVQAError(f"model {model_id!r} is not native (family {spec.family}): run it with its own code and "
                            "import its predictions (`mammovqa models import`, docs/models.md)")
    if path is None:
        path = find_weights(spec)
    kw: dict[str, Any] = {}
    if spec is not None:
        kw = {"family": None if spec.family == "external" else spec.family, "multi_image": spec.multi_image,
              "dtype": spec.dtype, "chat_template": spec.chat_template}
    return HFModel(path, max_new_tokens=max_new_tokens, seed=seed, device=device, generate_kwargs=generate_kwargs,
                   **kw)


def _request(item: QAItem, multi_image: bool) -> Request:
    """Open the item's images (RGB); single-image models get the first one and a note."""
    paths = item.images if multi_image else item.images[:1]
    notes = [] if multi_image or len(item.images) <= 1 else [f"single-image model: passed image 1 of {len(item.images)}"]
    return Request(item_prompt(item), [load_rgb(resolve(p)) for p in paths], notes)


def generate_isolated(model: Any, requests: list[Any]) -> tuple[list[str | None], list[str | None]]:
    """Outputs and errors of one batch (``model.generate``); when the batch fails, each item is retried alone,
    so one bad image or prompt costs its own answer (recorded as an error), never the batch."""
    try:
        return list(model.generate(requests)), [None] * len(requests)
    except Exception:  # noqa: BLE001 - isolate the failing item instead of losing the batch
        outputs: list[str | None] = []
        errors: list[str | None] = []
        for r in requests:
            try:
                outputs.append(model.generate([r])[0])
                errors.append(None)
            except Exception as one:  # noqa: BLE001
                outputs.append(None)
                errors.append(f"generate: {type(one).__name__}: {one}"[:500])
        return outputs, errors


def predict(model_id: str, items: Sequence[QAItem], out_path: str | Path, *, backend: str = "hf",
            batch_size: int = 8, max_new_tokens: int = 16, seed: int = 0, shard: tuple[int, int] = (0, 1),
            base_url: str | None = None, model_path: str | Path | None = None, served_model: str | None = None,
            concurrency: int = 4, timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 1.0,
            device: str | None = None, progress: bool = True, model: HFModel | None = None,
            generate_kwargs: dict[str, Any] | None = None, on_model_change: str = "error",
            api_key: str | None = None) -> dict[str, Any]:
    """Predict every not-yet-answered item of this shard; returns counts (todo, written, errors, skipped).

    A file is resumed only by the source that started it (:data:`RESUME_KEYS`: same backend, served model,
    weights, prompts and items); otherwise ``on_model_change`` says whether to stop with an error (default) or
    to start the file over (``restart``). Another process writing the same file is an error (``FileLocked``).
    ``api_key`` is sent as a bearer token to authenticated OpenAI-compatible servers and never recorded.
    """
    if backend not in ("hf", "openai"):
        raise MammoVQAError(f"unknown backend {backend!r} (hf, openai)")
    with file_lock(out_path, f"mammovqa predict --model {model_id}"):
        return _predict_locked(
            model_id, items, out_path, backend=backend, batch_size=batch_size, max_new_tokens=max_new_tokens,
            seed=seed, shard=shard, base_url=base_url, model_path=model_path, served_model=served_model,
            concurrency=concurrency, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, device=device,
            progress=progress, model=model, generate_kwargs=generate_kwargs, on_model_change=on_model_change,
            api_key=api_key)


def _served_name(model_id: str, served_model: str | None) -> str:
    """The model name sent to an OpenAI-compatible server (recorded, so a resume can check it)."""
    from .registry import load_models

    spec = load_models().get(model_id)
    return served_model or (spec.hf_id if spec is not None and spec.hf_id else model_id)


def _predict_locked(model_id: str, items: Sequence[QAItem], out_path: str | Path, *, backend: str,
                    batch_size: int, max_new_tokens: int, seed: int, shard: tuple[int, int], base_url: str | None,
                    model_path: str | Path | None, served_model: str | None, concurrency: int, timeout_s: float,
                    retries: int, backoff_s: float, device: str | None, progress: bool, model: HFModel | None,
                    generate_kwargs: dict[str, Any] | None, on_model_change: str,
                    api_key: str | None) -> dict[str, Any]:
    from tqdm import tqdm

    i, n = shard
    fingerprint = model_fingerprint(_weights_path(model_id, model, model_path)) if backend == "hf" else None
    served = _served_name(model_id, served_model) if backend == "openai" else None
    expected = expected_provenance(model_id, items, backend=backend, served_model=served, fingerprint=fingerprint)
    check_resumable(out_path, expected, on_model_change, model_id)
    mine = [it for it in items if shard_of(it.id, n) == i]
    done = done_ids(out_path)
    todo = [it for it in mine if it.id not in done]
    summary = {"items": len(items), "shard_items": len(mine), "skipped_done": len(mine) - len(todo),
               "written": 0, "errors": 0}
    if not todo:
        return summary
    prov = provenance(seed=seed, model_id=model_id, max_new_tokens=max_new_tokens, decoding="greedy",
                      shard=f"{i}/{n}", base_url=base_url if backend == "openai" else None, **expected)
    bar = tqdm(total=len(todo), desc=f"predict {model_id}", unit="item", disable=not progress)
    with PredictionWriter(out_path, prov) as writer:
        def write(it: QAItem, output: str | None, latency: float | None, error: str | None,
                  notes: list[str] | None = None) -> None:
            extra = {"notes": notes} if notes else {}
            writer.write(id=it.id, model=model_id, prompt=item_prompt(it), options=it.options, output=output,
                         latency_s=latency, error=error, **extra)
            summary["written"] += 1
            summary["errors"] += error is not None
            bar.update(1)

        if backend == "hf":
            hf = model or load_model(model_id, max_new_tokens=max_new_tokens, seed=seed, model_path=model_path,
                                     device=device, generate_kwargs=generate_kwargs)
            _run_hf(hf, todo, batch_size, write)
        else:
            if not base_url:
                raise MammoVQAError("backend 'openai' needs --base-url (e.g. http://127.0.0.1:8000/v1)")
            _run_openai(model_id, served, base_url, todo, batch_size, write, max_tokens=max_new_tokens,
                        seed=seed, concurrency=concurrency, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                        api_key=api_key)
    bar.close()
    return summary


def _open_batch(batch: Sequence[QAItem], multi_image: bool, write: Any) -> list[tuple[QAItem, Request]]:
    """Requests for the items whose images open; the others are written as errors at once."""
    ready = []
    for it in batch:
        try:
            ready.append((it, _request(it, multi_image)))
        except (OSError, ValueError) as exc:  # missing or corrupt image file
            write(it, None, None, f"image: {type(exc).__name__}: {exc}")
    return ready


def _run_hf(hf: HFModel, todo: Sequence[QAItem], batch_size: int, write: Any) -> None:
    for start in range(0, len(todo), max(1, batch_size)):
        ready = _open_batch(todo[start:start + batch_size], hf.multi_image, write)
        if not ready:
            continue
        t0 = time.perf_counter()
        outputs, errors = generate_isolated(hf, [r for _, r in ready])
        per_item = (time.perf_counter() - t0) / len(ready)  # batch latency, amortised
        for (it, r), out, err in zip(ready, outputs, errors, strict=True):
            write(it, out, per_item, err, r.notes)


def _run_openai(model_id: str, served_model: str, base_url: str, todo: Sequence[QAItem], batch_size: int,
                write: Any, **client_kw: Any) -> None:
    from .openai_backend import OpenAIClient
    from .registry import load_models

    spec = load_models().get(model_id)
    multi = spec.multi_image if spec is not None else True
    client = OpenAIClient(base_url, served_model, **client_kw)
    chunk = max(batch_size, client.concurrency) * 4  # bounded memory for encoded images
    for start in range(0, len(todo), chunk):
        ready = _open_batch(todo[start:start + chunk], multi, write)
        for idx, comp in client.map([r for _, r in ready]):
            it, r = ready[idx]
            write(it, comp.output, comp.latency_s, comp.error, r.notes)
