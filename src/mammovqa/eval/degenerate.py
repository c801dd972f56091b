"""Flag degenerate models: almost every answer empty, or almost every answer the same text.

Why: a model that answers ``""`` to every item (or "A" to every item) still gets a score, and a score next to
"errors: 0" reads like a result. On a benchmark where many topics have a majority class, a constant answer can
even look respectable in absolute accuracy. Such a run is a wiring or training failure, and every summary,
notebook and abstract that quotes it must say so; this module gives them one flag to read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..predictions import PredictionSet, is_missing_output

THRESHOLD = 0.95  # share of answers that are empty or identical from which a model counts as degenerate
MIN_ANSWERS = 10  # below this many rows one repeated answer is not evidence (no answer at all always is)


def degenerate_outputs(predictions: PredictionSet | Mapping[str, Mapping[str, Any]], threshold: float = THRESHOLD,
                       min_n: int = MIN_ANSWERS) -> dict[str, Any] | None:
    """None for a model whose answers vary; else a dict saying how it is degenerate.

    A row without an answer (an ``error``, or null/empty/whitespace/"null" output) counts as empty. The model is
    degenerate when the empty rows plus the rows giving the single most common answer make up at least
    ``threshold`` of all rows; with fewer than ``min_n`` rows only the empty rows count. ``reason`` is ``"empty"`` (empty alone reaches the threshold), ``"identical"``
    (one answer alone does) or ``"empty or identical"``. Keys: n, n_empty, empty_share, top_output, top_share,
    degenerate_share, threshold, reason, message.
    """
    rows = predictions.rows if isinstance(predictions, PredictionSet) else predictions
    n = len(rows)
    if n == 0:
        return None
    answers = [str(r.get("output")).strip() for r in rows.values()
               if r.get("error") is None and not is_missing_output(r.get("output"))]
    n_empty = n - len(answers)
    top, top_count = Counter(answers).most_common(1)[0] if answers and n >= min_n else ("", 0)
    share = (n_empty + top_count) / n
    if share < threshold:
        return None
    empty_share, top_share = n_empty / n, top_count / n
    reason = ("empty" if empty_share >= threshold else "identical" if top_share >= threshold
              else "empty or identical")
    parts = [f"{n_empty} of {n} answers empty"] if n_empty else []
    parts += [f"{top_count} of {n} answers identical ({top!r})"] if top_count else []
    message = f"degenerate model: {' and '.join(parts)}; its scores measure a constant answer, not the model"
    return {"n": n, "n_empty": n_empty, "empty_share": round(empty_share, 4), "top_output": top,
            "top_share": round(top_share, 4), "degenerate_share": round(share, 4), "threshold": threshold,
            "reason": reason, "message": message}
