"""The ``Record`` type and the ``Source`` protocol every data source implements.

A record is one labelled unit a QA item can be asked about: a breast image, a finding crop (lesion or
normal), or an exam (several images). The phantom and every real-dataset reader yield the same type, so
everything downstream (QA building, statistics, training) is source-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

RECORD_SCHEMA = 1
Kind = Literal["breast", "finding", "normal", "exam"]


@dataclass
class Record:
    record_id: str  # unique within the run, e.g. "Phantom-CBIS-breast/000012"
    dataset: str  # sub-dataset name (datasets.yaml official_name), e.g. "CBIS-DDSM-breast"
    kind: Kind
    # image path(s): prepared files (relative to repo root) or source files for raw readers. Files written for
    # others (records.jsonl, manifests) store source paths portably, ``{DATASET}/rel`` (paths.portable_path);
    # paths.resolve turns either form back into a local file.
    images: list[str]
    labels: dict[str, list[str]]  # official topic key -> unified option strings
    patient_id: str
    exam_id: str | None = None
    raw_labels: dict[str, Any] = field(default_factory=dict)  # topic key -> the dataset's own value
    laterality: str | None = None  # "Right"/"Left" as acquired (never flipped)
    view: str | None = None  # "CC"/"MLO"
    site: str | None = None
    source_image: str | None = None  # for crops: the full image the crop came from
    box: list[int] | None = None  # [x0, y0, x1, y1] in source-image pixels, origin top-left (crops)
    report: str | None = None  # narrative report (DMID, phantom) for report generation
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return "exam" if self.kind == "exam" else "image"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = RECORD_SCHEMA
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        d = {k: v for k, v in d.items() if k != "schema"}
        return cls(**d)


@runtime_checkable
class Source(Protocol):
    """Anything that yields records: the phantom generator, a real-dataset reader, an official-JSON import.

    ``records()`` streams; a source must not load every image into memory. Problems that do not stop the run
    (a missing image, a deliberate exclusion) are counted in ``summary`` with their reason.
    """

    name: str

    def records(self) -> Iterator[Record]: ...

    @property
    def summary(self) -> dict[str, Any]: ...
