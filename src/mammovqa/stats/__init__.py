"""Statistics and reliability: tests against random guess, clustered CIs, paired comparisons, power,
option-order robustness. See each module's docstring for the method and why it was chosen."""

from .bootstrap import BootstrapResult, bca_interval, cluster_bootstrap, percentile_interval, resample_sums
from .paired import (
    ItemSetMismatchError,
    align_items,
    compare_models,
    finetuned_vs_best_zero_shot,
    mcnemar_exact,
)
from .power import mde_for_items, minimum_detectable_effect
from .random_guess import random_guess_pvalues, simulate_null, test_against_random, tost_pvalue
from .robustness import circular_summary, position_bias, rotate_items
from .weighted import (
    accuracy_table,
    class_weights,
    cluster_stats,
    label_balance,
    random_expectation,
    wacc_from_sums,
    weighted_accuracy,
)

__all__ = [
    "BootstrapResult", "ItemSetMismatchError", "accuracy_table", "align_items", "bca_interval", "circular_summary",
    "class_weights", "cluster_bootstrap", "cluster_stats", "compare_models", "finetuned_vs_best_zero_shot",
    "label_balance", "mcnemar_exact", "mde_for_items", "minimum_detectable_effect", "percentile_interval",
    "position_bias", "random_expectation", "random_guess_pvalues", "resample_sums", "rotate_items", "simulate_null",
    "test_against_random", "tost_pvalue", "wacc_from_sums", "weighted_accuracy",
]
