"""A second `make all` with nothing changed must do nothing, quickly (issue 2 target: under 5 s).

Run after a complete `make all` (same PROFILE/SOURCE). Times `make -q all` (is anything out of date?) and a real
`make all` (what a user types), checks that no stage command ran, and prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--source", default="phantom")
    args = ap.parse_args()
    extra = [f"PROFILE={args.profile}", f"SOURCE={args.source}"]
    q_s, q = timed(["make", "-q", "all", *extra])
    all_s, full = timed(["make", "all", *extra])
    ran = [line for line in full.stdout.splitlines() if "mammovqa" in line or "papermill" in line]
    print(f"make -q all: exit {q.returncode} in {q_s:.2f} s; make all: {all_s:.2f} s; commands run: {len(ran)}")
    print(json.dumps({"profile": args.profile, "up_to_date": q.returncode == 0, "make_q_s": round(q_s, 3),
                      "make_all_s": round(all_s, 3), "commands_run": len(ran), "target_s": 5,
                      "met": q.returncode == 0 and not ran and all_s < 5}))


if __name__ == "__main__":
    main()
