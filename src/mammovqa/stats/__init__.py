"""Statistics and reliability: tests against the no-information level (and random guess), clustered CIs, paired comparisons, power,
option-order robustness. See each module's docstring for the method and why it was chosen."""

from .bootstrap import BootstrapResult, bca_interval, cluster_bootstrap, percentile_interval, resample_sums
from .paired import (
    ItemSetMismatchError,
    align_items,
    compare_models,
    finetuned_vs_best_zero_shot,
    mcnemar_clustered,
    mcnemar_exact,
)
from .plan import AnalysisPlan, load_plan, methods_text
from .power import mde_for_items, minimum_detectable_effect
from .random_guess import (
    bootstrap_pvalues,
    random_guess_pvalues,
    simulate_null,
    test_against_random,
    tost_pvalue,
)
from .robustness import circular_summary, position_bias, rotate_items
from .weighted import (
    accuracy_table,
    add_patient_key,
    class_weights,
    cluster_stats,
    label_balance,
    no_information_level,
    random_expectation,
    wacc_from_sums,
    weighted_accuracy,
)

__all__ = [
    "AnalysisPlan", "add_patient_key", "bootstrap_pvalues", "load_plan", "mcnemar_clustered", "methods_text",
    "no_information_level",
    "BootstrapResult", "ItemSetMismatchError", "accuracy_table", "align_items", "bca_interval", "circular_summary",
    "class_weights", "cluster_bootstrap", "cluster_stats", "compare_models", "finetuned_vs_best_zero_shot",
    "label_balance", "mcnemar_exact", "mde_for_items", "minimum_detectable_effect", "percentile_interval",
    "position_bias", "random_expectation", "random_guess_pvalues", "resample_sums", "rotate_items", "simulate_null",
    "test_against_random", "tost_pvalue", "wacc_from_sums", "weighted_accuracy",
]
