"""Option-order robustness (CircularEval, as in MMBench) and letter position bias.

Why: a model that picks "A" whatever the question scores 1/K by luck under shuffled options, and one seeded
shuffle cannot tell knowledge from position preference. Asking every cyclic rotation of the options and
requiring the same (correct) answer each time separates the two.

Rotated items are ordinary QA items (ids ``{id}@rot{k}``), so the lead runs predictors and the scorer on them
through the normal prediction files; ``circular_summary`` reads the resulting scored table back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import DataError
from ..qa.items import LETTERS, QAItem
from .weighted import require_columns, weighted_accuracy

ROT_SEP = "@rot"


def rotate_items(items: Iterable[QAItem]) -> list[QAItem]:
    """Every cyclic rotation of each item's options; rotation 0 is the item as shown originally."""
    out: list[QAItem] = []
    for it in items:
        k_opts = len(it.options)
        for k in range(k_opts):
            extra = copy.deepcopy(it.extra)
            extra.update({"rotation": k, "base_id": it.id})
            out.append(replace(it, id=f"{it.id}{ROT_SEP}{k}", options=it.options[k:] + it.options[:k], extra=extra))
    return out


def split_rotation_ids(ids: pd.Series) -> pd.DataFrame:
    """``base_id`` and ``rotation`` parsed from ``{id}@rot{k}`` (ids without the suffix raise)."""
    parts = ids.astype(str).str.rsplit(ROT_SEP, n=1, expand=True)
    if parts.shape[1] < 2 or parts[1].isna().any() or not parts[1].str.isdigit().all():
        bad = ids[parts[1].isna() if parts.shape[1] > 1 else ids.notna()].head(3).tolist()
        raise DataError("scored rotations", None, f"ids without a rotation suffix '{ROT_SEP}k': {bad}")
    return pd.DataFrame({"base_id": parts[0].to_numpy(), "rotation": parts[1].astype(int).to_numpy()}, index=ids.index)


def _with_rotation(scored: pd.DataFrame) -> pd.DataFrame:
    df = scored.copy()
    if "base_id" not in df.columns or "rotation" not in df.columns:
        df[["base_id", "rotation"]] = split_rotation_ids(df["id"])
    return df


def circular_summary(scored_rotations: pd.DataFrame, by: tuple[str, ...] = ("model", "topic")) -> pd.DataFrame:
    """Per group: consistency (same chosen option text in every rotation), circular accuracy (every rotation
    correct), standard accuracy (rotation 0) and mean accuracy over rotations, over base items whose
    rotations are all present (``n_incomplete`` counts the others, left out rather than guessed)."""
    require_columns(scored_rotations, [*by, "id", "pred", "correct", "n_options", "gold"])
    df = _with_rotation(scored_rotations)
    df["pred"] = df["pred"].fillna("").astype(str)
    df["_c0"] = df["correct"].where(df["rotation"] == 0)
    per_base = df.groupby([*by, "base_id"], sort=True).agg(
        n_rot=("rotation", "nunique"), n_options=("n_options", "first"), gold=("gold", "first"),
        n_preds=("pred", "nunique"), first_pred=("pred", "first"), all_correct=("correct", "min"),
        mean_correct=("correct", "mean"),
        rot0_correct=("_c0", "max"),
    ).reset_index()
    complete = per_base["n_rot"] >= per_base["n_options"]
    per_base["consistent"] = (per_base["n_preds"] == 1) & (per_base["first_pred"] != "")
    rows = []
    for key, g in per_base.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        c = g[complete.loc[g.index]]
        rows.append({**dict(zip(by, key)), "n_items": len(c), "n_incomplete": int(len(g) - len(c)),
                     "consistency": float(c["consistent"].mean()) if len(c) else np.nan,
                     "circular_accuracy": float(c["all_correct"].mean()) if len(c) else np.nan,
                     "standard_accuracy": float(c["rot0_correct"].mean()) if len(c) else np.nan,
                     "mean_accuracy": float(c["mean_correct"].mean()) if len(c) else np.nan,
                     "circular_weighted_accuracy": weighted_accuracy(c["all_correct"], c["gold"]) if len(c) else np.nan})
    return pd.DataFrame(rows)


def _options_lookup(df: pd.DataFrame, items: Iterable[QAItem] | None) -> pd.Series:
    if items is not None:
        opts = {it.id: list(it.options) for it in items}
        missing = [i for i in df["id"] if i not in opts]
        if missing:
            raise DataError("position_bias", None, f"{len(missing)} ids have no item (first: {missing[:5]})")
        return df["id"].map(opts)
    if "options" not in df.columns:
        raise DataError("position_bias", None, "need an 'options' column (shown order) or the items")
    return df["options"].map(lambda o: o.split("|") if isinstance(o, str) else list(o))


def chance_share(kind: str, n_options: int) -> float:
    """How often a uniform random guesser picks a given letter: 1/K for single choice; for multiple choice
    (uniform over the 2^K - 1 non-empty subsets) 2^(K-1) / (2^K - 1), about one half."""
    k = int(n_options)
    if kind == "multiple":
        return 2.0 ** (k - 1) / (2.0**k - 1)
    return 1.0 / k


def _kinds(df: pd.DataFrame, items: Iterable[QAItem] | None) -> pd.Series:
    if "kind" in df.columns:
        return df["kind"].fillna("single").astype(str)
    if items is not None:
        kinds = {it.id: it.kind for it in items}
        return df["id"].map(kinds).fillna("single")
    return pd.Series("single", index=df.index)


def position_bias(scored: pd.DataFrame, items: Iterable[QAItem] | None = None,
                  by: tuple[str, ...] = ("model",)) -> pd.DataFrame:
    """How often each letter is chosen, per group, question kind and option count, against chance and against
    how often it is the gold letter.

    ``share`` = fraction of items (with that kind and option count) whose choice includes the letter;
    ``chance_share`` = the same for a uniform random guesser (:func:`chance_share`); ``normalised`` = share /
    chance_share (1 = no preference, 2 = chosen twice as often as chance). ``gold_share``/``gold_normalised``
    are the same for the gold answers, which shows whether the shuffle itself left a positional imbalance.
    Why per kind: a uniform guesser over answer subsets picks each letter about half the time, so "share x K"
    drew it at K/2 (5x chance for ten options) and a multiple-choice row could not be read against 1.
    Options in shown order come from an ``options`` column ("|"-joined or list) or from ``items`` by id; the
    kind from a ``kind`` column or the items (single choice when neither says).
    """
    items = list(items) if items is not None else None
    require_columns(scored, [*by, "id", "pred", "gold"])
    df = scored.reset_index(drop=True).copy()
    df["_opts"] = _options_lookup(df, items)
    df["n_options"] = df["_opts"].map(len)
    df["kind"] = _kinds(df, items).to_numpy()
    long = df[[*by, "kind", "n_options", "_opts"]].explode("_opts").rename(columns={"_opts": "text"})
    long["pos"] = long.groupby(level=0).cumcount()
    long["letter"] = np.array(list(LETTERS))[long["pos"].to_numpy()]
    long["chosen"] = _membership(long, df["pred"])
    long["is_gold"] = _membership(long, df["gold"])
    out = long.groupby([*by, "kind", "n_options", "letter"], sort=True).agg(
        n_items=("chosen", "size"), n_chosen=("chosen", "sum"), share=("chosen", "mean"),
        gold_share=("is_gold", "mean")).reset_index()
    out["chance_share"] = [chance_share(k, n) for k, n in zip(out["kind"], out["n_options"])]
    out["normalised"] = out["share"] / out["chance_share"]
    out["gold_normalised"] = out["gold_share"] / out["chance_share"]
    return out


def _membership(long: pd.DataFrame, answers: pd.Series) -> np.ndarray:
    """Whether each (row, option text) of ``long`` is among that row's "|"-joined ``answers``."""
    ans = answers.fillna("").astype(str).str.split("|").explode()
    keys = pd.MultiIndex.from_arrays([ans.index.to_numpy(), ans.to_numpy()])
    probe = pd.MultiIndex.from_arrays([long.index.to_numpy(), long["text"].astype(str).to_numpy()])
    return probe.isin(keys)
