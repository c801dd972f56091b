"""Fine-tune a VLM to write mammography reports, and generate reports with it (AMRG, docs/protocol.md §8).

Why this reuses ``train.vlm.train_vlm``: a report is just a longer assistant turn. The same Trainer, checkpoints,
non-finite-loss guard and LoRA/full switch serve the VQA and the report task; only the prompt (one fixed report
instruction) and the target (the reference report) change. Generation goes through ``models.hf.HFModel`` so a
report model is decoded exactly like every VQA model: batched, greedy, left-padded, provenance recorded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import load_yaml
from ..errors import ConfigError
from ..io import provenance, read_jsonl, sha256_text, write_jsonl_atomic
from ..paths import CONFIG_DIR, ROOT, portable_path, resolve
from ..seeding import stable_fraction
from ..train.recipe import Recipe, load_recipe

#: The user turn of every report example, at training and at generation time (AMRG's three sections).
REPORT_PROMPT = ("Write the mammography report for this image with the sections Breast Composition, BIRADS "
                 "and Findings.")
GENERATIONS_SCHEMA = 1


@dataclass(frozen=True)
class ReportExample:
    """One image and its reference report; ``images`` is what ``train.data.VQADataset`` reads."""

    id: str
    patient_id: str
    images: tuple[str, ...]
    report: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReportExample:
        return cls(str(row["id"]), str(row["patient_id"]), tuple(row["images"]), str(row["report"]))


def report_prompt(_example: Any) -> str:
    """The fixed instruction: the model must read everything it writes from the image, never from the prompt."""
    return REPORT_PROMPT


def report_target(example: ReportExample) -> str:
    """The supervised assistant turn: the reference report verbatim (sections and line breaks included)."""
    return example.report


def select_rows(rows: Sequence[dict[str, Any]], cap: int | None, seed: int, key: str = "report-order"
                ) -> list[dict[str, Any]]:
    """A seeded, order-independent subset (a capped profile trains/evaluates on the same rows every time)."""
    ordered = sorted(rows, key=lambda r: stable_fraction(seed, key, r["id"]))
    return ordered[:cap] if cap else ordered


# ----------------------------------------------------------------------------------------------- recipes


def load_grid(grid_file: str | Path = "report_lora_grid.yaml") -> list[Recipe]:
    """The LoRA rank/alpha grid as complete recipes: the base recipe with each ``{r, alpha}`` applied.

    The grid lives in a sibling file because ``load_recipe`` rejects unknown keys (a typo must not pass).
    Each recipe is named ``<base>-r<r>-a<alpha>`` so their outputs never share a folder.
    """
    path = Path(grid_file)
    if not path.is_absolute() and not path.exists():
        path = CONFIG_DIR / "train" / path
    raw = load_yaml(path)
    if not isinstance(raw, dict) or "recipe" not in raw or "grid" not in raw:
        raise ConfigError(path, "<root>", "expected keys 'recipe' (base recipe file) and 'grid' (list of {r, alpha})")
    base = load_recipe(raw["recipe"])
    if base.method != "lora":
        raise ConfigError(path, "recipe", f"grid needs a LoRA base recipe, {raw['recipe']!r} is {base.method!r}")
    out = []
    for i, entry in enumerate(raw["grid"] or []):
        if not isinstance(entry, dict) or set(entry) != {"r", "alpha"}:
            raise ConfigError(path, f"grid[{i}]", f"expected {{r, alpha}}, got {entry!r}")
        r, alpha = entry["r"], entry["alpha"]
        if not (isinstance(r, int) and isinstance(alpha, int) and r > 0 and alpha > 0):
            raise ConfigError(path, f"grid[{i}]", f"r and alpha must be positive integers, got {entry!r}")
        lora = {**base.lora, "r": r, "alpha": alpha}
        out.append(dataclasses.replace(base, name=f"{base.name}-r{r}-a{alpha}", lora=lora))
    if not out:
        raise ConfigError(path, "grid", "empty grid")
    return out


# ----------------------------------------------------------------------------------------------- training


def final_model_ready(out_dir: Path) -> bool:
    """A finished training run leaves ``final/`` with weights and processor; a killed one does not."""
    final = Path(out_dir) / "final"
    has_weights = any(final.glob("*.safetensors")) or any(final.glob("*.bin"))
    return has_weights and (final / "train_complete.json").exists()


def train_report_model(recipe: Recipe, train_rows: Sequence[dict[str, Any]], val_rows: Sequence[dict[str, Any]],
                       base_path: Path, out_dir: Path, seed: int = 0, epochs: float | None = None,
                       max_steps: int = -1, force: bool = False, root: Path = ROOT) -> dict[str, Any]:
    """Train (or, when a finished model exists and not ``force``, skip) and return the training summary.

    The summary is read back from ``train_summary.json`` when training is skipped, so ``train_seconds`` in the
    manuscript stays the time of the run that produced the model. Its paths (``model_dir``, ``base_path``,
    ``recipe_file``) are stored relative to ``root``, the run's repository root: ``paths.resolve(value, root)``
    gives the folder, also after the run folder moved or was cloned.
    """
    from ..io import write_json_atomic
    from ..train.vlm import train_vlm

    out_dir = Path(out_dir)
    summary_file = out_dir / "train_summary.json"
    if not force and final_model_ready(out_dir) and summary_file.exists():
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        return {**summary, "skipped": True, "model_dir": portable_path(out_dir / "final", root=root, home=True)}
    train = [ReportExample.from_row(r) for r in train_rows]
    val = [ReportExample.from_row(r) for r in val_rows]
    res = train_vlm(recipe, train, val, Path(base_path), out_dir, seed=seed, epochs=epochs, max_steps=max_steps,
                    resume=not force, max_images=1, eval_max_items=len(val), prompt_fn=report_prompt,
                    target_fn=report_target, root=root)
    write_json_atomic(res.model_dir / "train_complete.json", {"steps": res.steps, "seed": seed})
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    return {**summary, "skipped": False, "model_dir": portable_path(res.model_dir, root=root, home=True)}


def generation_model_dir(model_dir: str | Path, base_path: str | Path) -> Path:
    """A folder ``HFModel`` can load: the full model as is, a LoRA adapter merged into its base (once).

    Why merge: the generic adapter loads plain checkpoints only, and a merged model decodes as fast as the base.
    The merged copy sits beside the adapter (``merged/``) and is rebuilt only when missing.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").exists():
        return model_dir
    merged = model_dir.parent / "merged"
    if (merged / "config.json").exists():
        return merged
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    base = AutoModelForImageTextToText.from_pretrained(base_path)
    model = PeftModel.from_pretrained(base, model_dir).merge_and_unload()
    model.save_pretrained(merged)
    AutoProcessor.from_pretrained(model_dir).save_pretrained(merged)
    return merged


# ----------------------------------------------------------------------------------------------- generation


def rows_checksum(rows: Sequence[dict[str, Any]]) -> str:
    """Identity of what is generated for: ids and reference texts, order-independent."""
    return sha256_text("\n".join(sorted(f"{r['id']}\t{r['report']}" for r in rows)))


def generate_reports(model_path: str | Path, rows: Sequence[dict[str, Any]], *, batch_size: int = 32,
                     max_new_tokens: int = 160, seed: int = 0) -> list[str]:
    """Greedy reports for ``rows`` in order, through the same adapter as every VQA model."""
    from ..models.hf import HFModel, Request, load_rgb

    model = HFModel(model_path, max_new_tokens=max_new_tokens, seed=seed)
    out: list[str] = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start: start + batch_size]
        requests = [Request(REPORT_PROMPT, [load_rgb(resolve(r["images"][0]))]) for r in batch]
        out.extend(model.generate(requests, max_new_tokens))
    return out


def generation_rows(rows: Sequence[dict[str, Any]], generated: Sequence[str]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "patient_id": r["patient_id"], "generated": g, "reference": r["report"]}
            for r, g in zip(rows, generated, strict=True)]


def write_generations(path: str | Path, system: str, rows: Sequence[dict[str, Any]], generated: Sequence[str],
                      **prov: Any) -> Path:
    """Generations JSONL: first line ``{"provenance": ...}``, then ``{id, patient_id, generated, reference}``."""
    head = {"provenance": provenance(model_id=system, schema=GENERATIONS_SCHEMA, prompt=REPORT_PROMPT,
                                     rows_sha256=rows_checksum(rows), n=len(rows), **prov)}
    write_jsonl_atomic(path, [head, *generation_rows(rows, generated)])
    return Path(path)


def read_generations(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(provenance, rows)`` of a generations file (or any JSONL of {id, generated, reference})."""
    prov: dict[str, Any] = {}
    rows = []
    for obj in read_jsonl(path):
        if "provenance" in obj and "id" not in obj:
            prov = obj["provenance"]
        else:
            missing = {"id", "generated", "reference"} - set(obj)
            if missing:
                from ..errors import DataError

                raise DataError(path, obj.get("id"), f"generation row lacks {sorted(missing)}")
            rows.append(obj)
    return prov, rows


def generations_current(path: Path, rows: Sequence[dict[str, Any]], model_id: str, max_new_tokens: int) -> bool:
    """True when ``path`` already holds this model's generations for exactly these rows (resume: skip)."""
    if not path.exists():
        return False
    try:
        prov, done = read_generations(path)
    except Exception:  # noqa: BLE001 - an unreadable file is simply regenerated
        return False
    return (prov.get("rows_sha256") == rows_checksum(rows) and prov.get("model_id") == model_id
            and prov.get("max_new_tokens") == max_new_tokens and len(done) == len(rows))
