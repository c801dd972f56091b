"""The resumable predict loop: QA items in, one prediction file (mammovqa.predictions format) out.

Why it looks like this: inference is the expensive step, so it must survive being killed (append-only file,
``done_ids`` skipped on re-run), split across machines (``shard=(i, n)`` by a stable hash of the item id, so the
shards are disjoint and cover everything whatever the item order), and never lose a whole run to one bad item
(an unreadable image or a failed request is written as that item's ``error`` and retried by the next run).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import MammoVQAError
from ..io import dumps, provenance, sha256_text
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
    """A prediction file was written by other weights than the ones now asked to continue it."""


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


def check_resumable(out_path: str | Path, fingerprint: str | None, on_mismatch: str) -> None:
    """Refuse (``error``) or start over (``restart``) when ``out_path`` holds another model's answers."""
    from ..predictions import read_predictions

    out_path = Path(out_path)
    if fingerprint is None or not out_path.exists():
        return
    old = read_predictions(out_path).provenance.get("model_fingerprint")
    if old == fingerprint:
        return  # (a file with no fingerprint has unknown weights: treated as other weights)
    if on_mismatch == "restart":
        out_path.unlink()
        return
    raise StalePredictions(f"{out_path} was written by other weights (fingerprint {old}, now {fingerprint}); "
                           "delete it or pass --restart-if-model-changed to start it over")


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


def predict(model_id: str, items: Sequence[QAItem], out_path: str | Path, *, backend: str = "hf",
            batch_size: int = 8, max_new_tokens: int = 16, seed: int = 0, shard: tuple[int, int] = (0, 1),
            base_url: str | None = None, model_path: str | Path | None = None, served_model: str | None = None,
            concurrency: int = 4, timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 1.0,
            device: str | None = None, progress: bool = True, model: HFModel | None = None,
            generate_kwargs: dict[str, Any] | None = None, on_model_change: str = "error") -> dict[str, Any]:
    """Predict every not-yet-answered item of this shard; returns counts (todo, written, errors, skipped).

    A file is resumed only by the weights that started it (``model_fingerprint``); otherwise ``on_model_change``
    says whether to stop with an error (default) or to start the file over (``restart``).
    """
    from tqdm import tqdm

    if backend not in ("hf", "openai"):
        raise MammoVQAError(f"unknown backend {backend!r} (hf, openai)")
    i, n = shard
    fingerprint = model_fingerprint(_weights_path(model_id, model, model_path)) if backend == "hf" else None
    check_resumable(out_path, fingerprint, on_model_change)
    mine = [it for it in items if shard_of(it.id, n) == i]
    done = done_ids(out_path)
    todo = [it for it in mine if it.id not in done]
    summary = {"items": len(items), "shard_items": len(mine), "skipped_done": len(mine) - len(todo),
               "written": 0, "errors": 0}
    if not todo:
        return summary
    prov = provenance(seed=seed, model_id=model_id, data_checksum=items_checksum(items), backend=backend,
                      model_fingerprint=fingerprint,
                      max_new_tokens=max_new_tokens, decoding="greedy", shard=f"{i}/{n}",
                      base_url=base_url if backend == "openai" else None)
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
            _run_openai(model_id, served_model, base_url, todo, batch_size, write, max_tokens=max_new_tokens,
                        seed=seed, concurrency=concurrency, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
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
        try:
            outputs: list[str | None] = list(hf.generate([r for _, r in ready]))
            errors: list[str | None] = [None] * len(ready)
        except Exception as exc:  # noqa: BLE001 - isolate the failing item instead of losing the batch
            outputs, errors = [], []
            for _, r in ready:
                try:
                    outputs.append(hf.generate([r])[0])
                    errors.append(None)
                except Exception as one:  # noqa: BLE001
                    outputs.append(None)
                    errors.append(f"generate: {type(one).__name__}: {one}"[:500])
            del exc
        per_item = (time.perf_counter() - t0) / len(ready)  # batch latency, amortised
        for (it, r), out, err in zip(ready, outputs, errors, strict=True):
            write(it, out, per_item, err, r.notes)


def _run_openai(model_id: str, served_model: str | None, base_url: str, todo: Sequence[QAItem], batch_size: int,
                write: Any, **client_kw: Any) -> None:
    from .openai_backend import OpenAIClient
    from .registry import load_models

    spec = load_models().get(model_id)
    multi = spec.multi_image if spec is not None else True
    client = OpenAIClient(base_url, served_model or (spec.hf_id if spec and spec.hf_id else model_id), **client_kw)
    chunk = max(batch_size, client.concurrency) * 4  # bounded memory for encoded images
    for start in range(0, len(todo), chunk):
        ready = _open_batch(todo[start:start + chunk], multi, write)
        for idx, comp in client.map([r for _, r in ready]):
            it, r = ready[idx]
            write(it, comp.output, comp.latency_s, comp.error, r.notes)
