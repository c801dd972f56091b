"""A scratch repository root for tests that run the CLI or Make against it (``MAMMOVQA_ROOT`` / ``make -C``).

Why one helper: every such test needs the committed manifests without the user's own ``local.yaml`` (which
would point the test at real datasets), and the end-to-end ones also need the code, with the folders that
receive outputs (notebooks, paper) real so that nothing is written into the checkout.
"""

from __future__ import annotations

from pathlib import Path

from mammovqa.paths import MANIFEST_DIR

REPO = Path(__file__).resolve().parents[1]
#: Linked as they are: code, configuration and the environment that runs it.
CODE = ("Makefile", "configs", "src", "requirements.lock", "pyproject.toml", ".venv")
#: Real folders (outputs land inside them) whose sources are linked.
OUTPUT_HOLDERS = ("notebooks", "paper")
NOT_LINKED = ("executed", "_build", "local.yaml")


def scratch_root(root: Path, *, code: bool = False) -> Path:
    """``root`` with the committed manifest files linked (never ``local.yaml``); with ``code`` also the code and
    the output-holding folders, so ``make -C root`` runs the pipeline there. Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if code:
        for name in CODE:
            (root / name).symlink_to(REPO / name)
        for name in OUTPUT_HOLDERS:
            (root / name).mkdir()
            for child in (REPO / name).iterdir():
                if child.name not in NOT_LINKED:
                    (root / name / child.name).symlink_to(child)
    (root / "data_manifest").mkdir()
    for entry in MANIFEST_DIR.iterdir():
        if entry.name not in NOT_LINKED:
            (root / "data_manifest" / entry.name).symlink_to(entry)
    return root
