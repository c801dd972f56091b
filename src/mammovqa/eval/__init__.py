"""Evaluation: answer matching (official, strict), per-item scoring, metrics tables, weight-free baselines.

    matching   match / match_many: model output -> chosen option texts
    scoring    score_items: one row per item (the contract for metrics and statistics), disagreement_table
    metrics    metrics_table: accuracy, weighted accuracy, macro-F1, random guess per topic / dataset
    baselines  run_baseline: random, train prior, first option, written as prediction files
    cli        `mammovqa score`, `mammovqa baselines`
"""

from .matching import match, match_many, random_chance

__all__ = ["match", "match_many", "random_chance"]
