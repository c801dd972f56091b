"""The arguments that name a run (``--source``, ``--profile``, ``--seed``), shared by every sub-command.

Why one home: a run is the folder triple ``<source>-<profile>[...]`` plus a seed (:class:`mammovqa.paths.RunPaths`);
a sub-command that spelled these differently (another default, no help, another profile list) would read or
write another run than the one the user meant. Sub-commands take them through ``parents=[run_arguments()]``.
"""

from __future__ import annotations

import argparse

SOURCES = ("phantom", "real")


def add_run_arguments(parser: argparse.ArgumentParser,
                      seed_help: str = "run seed: splits, option order, sampling (default: %(default)s)",
                      with_seed: bool = True) -> argparse.ArgumentParser:
    """Add the run's ``--source``, ``--profile`` and, unless ``with_seed`` is false, ``--seed`` (as a "run"
    group) to ``parser``; returns it."""
    g = parser.add_argument_group("run")
    g.add_argument("--source", default="phantom", choices=SOURCES,
                   help="phantom (synthetic, built in) or real (datasets in data_manifest/local.yaml); "
                        "default: %(default)s")
    g.add_argument("--profile", default="default",
                   help="smoke | default | full (benchmark size: data_manifest/profiles.yaml; stage budgets: "
                        "configs/profiles.yaml); default: %(default)s")
    if with_seed:
        g.add_argument("--seed", type=int, default=0, help=seed_help)
    return parser


def run_arguments(seed_help: str = "run seed: splits, option order, sampling (default: %(default)s)",
                  with_seed: bool = True) -> argparse.ArgumentParser:
    """A parent parser (``add_help=False``) with the run arguments of :func:`add_run_arguments`, for
    ``add_parser(..., parents=[run_arguments()])``."""
    return add_run_arguments(argparse.ArgumentParser(add_help=False), seed_help, with_seed)
