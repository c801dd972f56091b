"""Report generation task: parsing (``parse``), phantom reports (``grammar``), the dataset (``data``) and
weight-free baselines (``baselines``). Metrics live in ``mammovqa.eval.report_metrics``, figures in
``mammovqa.viz.reports``."""

from .parse import ParsedReport, finding_terms, parse_birads, parse_density, parse_report, report_problems

__all__ = ["ParsedReport", "finding_terms", "parse_birads", "parse_density", "parse_report", "report_problems"]
