"""Atomic writes, JSONL reading/appending with resume, and provenance records.

Why: a stage killed half-way must leave either the old file or the new one, never a torn one;
prediction files are append-only so that a re-run resumes instead of starting over.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import DataError, MammoVQAError

# ------------------------------------------------------------------ atomic writes


def current_umask() -> int:
    """The process umask (read by setting and restoring it: POSIX has no query-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or (path.suffix + ".tmp"), dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; outputs follow the umask like open() would
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys and no NaN, so identical inputs give identical bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=indent) + "\n")


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(dumps(row) + "\n")
            n += 1
    return n


# ------------------------------------------------------------------ JSONL reading


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector for a bulk load, restoring its previous state afterwards.

    Why: parsing 565K JSON lines allocates millions of containers that all survive; every generational
    collection on the way re-walks them (about half of the parse time), yet none of them can form a cycle.
    Reference counting still frees everything as usual; only the cycle search waits.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_SCAN_ONCE = json.JSONDecoder().scan_once  # the C scanner ``json.loads`` runs, without its per-call wrapper
_JSON_SPACE = " \t\n\r"  # what ``json.loads`` skips after a value (its ``WHITESPACE`` pattern)
_BLANK = object()


def loads_line(line: str) -> Any:
    """``json.loads(line)`` for one JSONL line: the same C scanner without ``json.loads``'s per-call wrapper;
    anything unusual (an error, leading space, a BOM) goes through ``json.loads`` itself, errors included."""
    try:
        obj, end = _SCAN_ONCE(line, 0)
    except Exception:  # noqa: BLE001 - json.loads raises the proper error below
        return json.loads(line)
    if end != len(line) and line[end:].strip(_JSON_SPACE):
        return json.loads(line)
    return obj


def _decode_lines(lines: list[str]) -> tuple[list[Any], int]:
    """Objects of the leading lines that ``json.loads`` accepts as objects (``_BLANK`` for blank lines), and the
    index of the first line that needs the careful path (malformed, not an object, or unusual spacing).

    Each line goes through the very scanner ``json.loads`` uses, so the objects are the same; the lines are
    dropped as they are parsed to keep the peak memory of a large file near that of its text.
    """
    out: list[Any] = []
    scan = _SCAN_ONCE
    with gc_paused():
        for i, line in enumerate(lines):
            if not line.strip():
                out.append(_BLANK)
                continue
            try:
                obj, end = scan(line, 0)
            except Exception:  # noqa: BLE001 - StopIteration, JSONDecodeError...: json.loads re-raises it in order
                return out, i
            if (end != len(line) and line[end:].strip(_JSON_SPACE)) or type(obj) is not dict:
                return out, i
            out.append(obj)
            lines[i] = ""
    return out, len(lines)


def iter_jsonl(path: str | Path, *, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)``; a malformed line raises an error naming file and line.

    ``tolerate_torn_tail`` accepts an unterminated last line (a process killed mid-write) and skips it,
    because append-only files can only be torn at their end.

    The well-formed lines are decoded up front in one pass with the cycle collector paused (see
    :func:`gc_paused`); objects are still yielded one by one and the first bad line raises only after the
    lines before it were yielded, exactly as a line-by-line reader does.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    objs, stop = _decode_lines(lines)
    for i in range(stop):
        obj = objs[i]
        objs[i] = None
        if obj is not _BLANK:
            yield i + 1, obj
    del objs
    for i in range(stop, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i + 1 == len(lines) and not line.endswith("\n"):
                return
            raise DataError(path, i + 1, f"malformed JSON line ({exc.msg} at column {exc.colno}): {line[:80]!r}") from None
        if not isinstance(obj, dict):
            raise DataError(path, i + 1, f"expected a JSON object, got {type(obj).__name__}")
        yield i + 1, obj


def read_jsonl(path: str | Path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


class JsonlAppender:
    """Append-only JSONL writer: each line is flushed and fsynced, and a torn tail is repaired first."""

    def __init__(self, path: str | Path, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")
        self._fsync = fsync

    def _repair_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):  # killed mid-line: drop the partial line, it will be redone
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)

    def write(self, obj: dict) -> None:
        self._fh.write(dumps(obj) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ exclusive locks


class FileLocked(MammoVQAError):
    """Another process holds the lock of a file this process wants to write."""


_HELD: dict[str, tuple[Any, int]] = {}  # lock path -> (open file, depth): re-entrant within one process


def lock_path_of(path: str | Path) -> Path:
    """The sidecar ``<name>.lock`` guarding ``path`` (the guarded file itself is replaced or appended freely)."""
    p = Path(path)
    return p if p.suffix == ".lock" else p.with_name(p.name + ".lock")


def _holder_text(fh: Any) -> str:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "{}")
    except json.JSONDecodeError:
        return "an unknown process"
    return f"pid {info.get('pid')} on host {info.get('host')} ({info.get('what')}; command: {info.get('command')})"


@contextlib.contextmanager
def file_lock(path: str | Path, what: str | None = None) -> Iterator[Path]:
    """Hold an exclusive, non-blocking ``flock`` on ``path``'s sidecar ``.lock`` file, or raise :class:`FileLocked`.

    Why: two writers appending to one prediction file (two ``mammovqa predict``, two ``make all``) each skip
    the ids done when they started and then write every remaining id twice. The kernel drops the lock when the
    holder dies (even on SIGKILL), so a stale lock file never blocks; it records who holds it, for the message.
    Re-entrant within one process (the predict loop and the writer it opens both take it).
    """
    lock = lock_path_of(path).resolve()
    key = str(lock)
    if key in _HELD:
        fh, depth = _HELD[key]
        _HELD[key] = (fh, depth + 1)
        try:
            yield lock
        finally:
            _HELD[key] = (fh, _HELD[key][1] - 1)
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lifetime of the lock
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(fh)
        fh.close()
        raise FileLocked(f"{path} is being written by {holder}; wait for it to finish or stop it "
                         f"(the lock {lock} is released when that process ends)") from None
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": what or "writing",
                         "command": " ".join(sys.argv)[:300]}) + "\n")
    fh.flush()
    _HELD[key] = (fh, 1)
    try:
        yield lock
    finally:
        if _HELD[key][1] <= 1:
            del _HELD[key]
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()
        else:
            _HELD[key] = (fh, _HELD[key][1] - 1)


# ------------------------------------------------------------------ checksums and provenance


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_commit(root: Path | None = None) -> str:
    from .paths import ROOT

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or ROOT, capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root or ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_PROVENANCE_PACKAGES = ("torch", "transformers", "peft", "accelerate", "numpy", "scipy", "pandas", "statsmodels",
                        "pydicom", "pillow", "fuzzywuzzy", "papermill")


def package_versions(names: Iterable[str] = _PROVENANCE_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def manifest_checksum() -> str:
    """One hash over every committed manifest YAML, so a result names the protocol it was built with."""
    from .paths import MANIFEST_DIR

    h = hashlib.sha256()
    for p in sorted(MANIFEST_DIR.rglob("*.yaml")):
        if p.name == "local.yaml":
            continue
        h.update(p.relative_to(MANIFEST_DIR).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def provenance(*, seed: int | None = None, model_id: str | None = None, data_checksum: str | None = None,
               timestamp: bool = False, **extra: Any) -> dict[str, Any]:
    """The record every results file carries. No timestamp by default: outputs must be byte-identical on re-run."""
    from . import __version__

    rec: dict[str, Any] = {
        "mammovqa": __version__,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "seed": seed,
        "manifest_sha256": manifest_checksum(),
        "data_sha256": data_checksum,
        "model_id": model_id,
    }
    if timestamp:
        rec["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    rec.update(extra)
    return rec
