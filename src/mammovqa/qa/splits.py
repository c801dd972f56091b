"""Patient-grouped, label-stratified 7:1:2 splits inside every internal dataset.

Why grouped by patient *across the parts of a dataset*: a finding crop is cut from a breast image, so if the
breast image sat in train and its crop in test the model would have seen the test pixels. Splitting patients
once per dataset (breast, finding and exam parts together) rules that out.

Why a deficit rule rather than random assignment: with few patients per stratum, random 7:1:2 draws are
noisy; walking patients in stratum order and giving each to the split furthest below its target share keeps
every stratum and the whole dataset close to 7:1:2 while staying deterministic for a seed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ..data.records import Record
from ..seeding import stable_fraction

SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def label_signature(record: Record) -> str:
    """The label combination a record is stratified by (topics sorted, options sorted)."""
    return ";".join(f"{t}={'+'.join(sorted(v))}" for t, v in sorted(record.labels.items()))


def assign_splits(records: Iterable[Record], family_of: dict[str, str], seed: int,
                  fractions: dict[str, float] | None = None) -> dict[tuple[str, str], str]:
    """Map (dataset family, patient id) -> split name for internal records.

    ``family_of`` maps a record's sub-dataset name to its dataset family (e.g. CBIS-DDSM-finding -> CBIS-DDSM).
    """
    fractions = fractions or SPLIT_FRACTIONS
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    signatures: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        key = (family_of[r.dataset], r.patient_id)
        sizes[key] += 1
        signatures[key].append(label_signature(r))
    by_family: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in sizes:
        by_family[key[0]].append(key)

    def order(key: tuple[str, str]) -> tuple[str, float]:
        # stratum = the patient's most common signature; strata in order, patients by a seeded hash
        sigs = signatures[key]
        stratum = max(sorted(set(sigs)), key=sigs.count)
        return stratum, stable_fraction(seed, key[0], key[1])

    out: dict[tuple[str, str], str] = {}
    for _family, keys in sorted(by_family.items()):
        counts = dict.fromkeys(fractions, 0.0)
        total = 0
        for key in sorted(keys, key=order):
            size = sizes[key]
            total += size
            split = max(fractions, key=lambda s: (fractions[s] * total - counts[s], fractions[s]))
            counts[split] += size
            out[key] = split
    return out
