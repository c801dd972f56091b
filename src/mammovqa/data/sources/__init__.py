"""Readers for the 15 real source datasets, each reading the data exactly as its publisher distributes it.

``get_reader(name, root)`` is the one entry point; names are the datasets.yaml keys, matched case-insensitively.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ...config import load_datasets
from ...errors import ConfigError
from .base import LabelMap, Reader, available_datasets, load_local_config, shared_image_ids

#: datasets.yaml key -> "module:Class"
READERS: dict[str, str] = {
    "BMCD": "bmcd:BMCDReader",
    "CBIS-DDSM": "cbis_ddsm:CBISDDSMReader",
    "CDD-CESM": "cdd_cesm:CDDCESMReader",
    "DMID": "dmid:DMIDReader",
    "INbreast": "inbreast:INbreastReader",
    "MIAS": "mias:MIASReader",
    "CSAW-M": "csaw_m:CSAWMReader",
    "KAU-BCMD": "kau_bcmd:KAUBCMDReader",
    "VinDr-Mammo": "vindr:VinDrReader",
    "RSNA": "rsna:RSNAReader",
    "EMBED": "embed:EMBEDReader",
    "DBT": "dbt:DBTReader",
    "LAMIS-DMDB": "lamis:LAMISReader",
    "MM": "mm:MMReader",
    "NLBS": "nlbs:NLBSReader",
}


def reader_class(name: str) -> type[Reader]:
    """The reader class for a dataset name (case-insensitive, datasets.yaml spelling)."""
    for key, target in READERS.items():
        if key.lower() == name.lower():
            module, cls = target.split(":")
            return getattr(import_module(f"{__name__}.{module}"), cls)
    datasets = load_datasets()
    raise ConfigError(datasets.source, "datasets", f"no reader for dataset {name!r} (known: {', '.join(READERS)})")


def get_reader(name: str, root: str | Path, *, strict_labels: bool = False) -> Reader:
    """A reader for ``root``; ``strict_labels`` stops at the first unmapped value instead of withholding it."""
    return reader_class(name)(Path(root), strict_labels=strict_labels)


__all__ = ["READERS", "LabelMap", "Reader", "available_datasets", "get_reader", "load_local_config",
           "reader_class", "shared_image_ids"]
