"""Phantom radiology reports written from a record's labels by a small seeded grammar.

Why a grammar: the report-generation task needs references for synthetic images whose facts (lesions, density,
BI-RADS) are known exactly, phrased with enough variety that a model cannot score by copying one template, and
laid out in the DMID section style so that ``parse.py`` reads phantom and real references the same way.
Every report is a pure function of (seed, record): the same record gives the same text on every machine.

Geometry convention (the phantom's images are "as acquired", never flipped):

* pixel coordinates have their origin at the top-left, x to the right, y downwards;
* the chest wall is the left image edge for a Left breast and the right edge for a Right breast (as in the
  CBIS-DDSM scans), unless ``extra["chest_wall"]`` says ``"left"``/``"right"``; depth is the distance from the
  chest wall as a fraction of the image width (0 chest wall, 1 far edge);
* a CC image resolves the medial-lateral axis (top of the image = lateral, as the CC marker convention puts
  it); an MLO image resolves the superior-inferior axis (top = superior);
* the axis a single view cannot see comes from the lesion's ``"superior"`` (for CC) or ``"lateral"`` (for MLO)
  key (values in [-1, 1]) when the phantom supplies it, which keeps the CC and MLO reports of
  one lesion in one quadrant; otherwise it is drawn from a seeded RNG keyed by (seed, patient, laterality,
  lesion id or index), stable across re-runs;
* the clock face is read as the examiner facing the patient: 12 o'clock superior, lateral at 3 o'clock for the
  left breast and at 9 o'clock for the right, so the upper outer quadrant is 1-2 o'clock left, 10-11 right;
* a lesion near the axis (radius < 0.2 of the half-breast) is "retroareolar" when anterior (depth > 0.7),
  otherwise "central".
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

from ..data.records import Record

DEFAULT_IMAGE_SIZE = 1024
TYPE_TERM = {"mass": "mass", "calcification": "calcification", "distortion": "architectural distortion",
             "architectural distortion": "architectural distortion", "asymmetry": "asymmetry"}
QUADRANT_NAMES = {"UOQ": "upper outer quadrant", "UIQ": "upper inner quadrant", "LOQ": "lower outer quadrant",
                  "LIQ": "lower inner quadrant", "central": "central region", "retroareolar": "retroareolar region"}

_DENSITY_SENTENCES: dict[str, tuple[str, ...]] = {
    "A": ("ACR A: the breasts are almost entirely fatty.",
          "The breast tissue is almost entirely fatty (ACR a).",
          "ACR density A. Almost entirely fatty breasts."),
    "B": ("ACR B: there are scattered areas of fibroglandular density.",
          "Scattered fibroglandular densities are present (ACR b).",
          "ACR density B, with scattered areas of fibroglandular tissue."),
    "C": ("ACR C: the breasts are heterogeneously dense, which may reduce sensitivity.",
          "Heterogeneously dense breast tissue (ACR c).",
          "ACR density C. The parenchyma is heterogeneously dense."),
    "D": ("ACR D: the breasts are extremely dense, which lowers the sensitivity of mammography.",
          "Extremely dense breast tissue (ACR d).",
          "ACR density D. The breasts are extremely dense."),
}
_FINDING_SENTENCES: dict[str, tuple[str, ...]] = {
    "mass": ("There is {a_desc}mass in the {loc}, measuring {size} mm.",
             "{A_desc}mass measuring approximately {size} mm is seen in the {loc}.",
             "In the {loc} there is {a_desc}mass of {size} mm.",
             "{A_desc}mass is identified in the {loc}; it measures {size} mm."),
    "calcification": ("{Desc}calcifications are seen in the {loc}, spanning {size} mm.",
                      "A cluster of {desc}calcifications is present in the {loc}, extending over {size} mm.",
                      "There are {desc}microcalcifications in the {loc} over an area of {size} mm."),
    "architectural distortion": ("Architectural distortion is noted in the {loc}, extending over {size} mm.",
                                 "There is an area of architectural distortion in the {loc} measuring {size} mm.",
                                 "In the {loc} there is architectural distortion of about {size} mm."),
    "asymmetry": ("A focal asymmetry is seen in the {loc}, measuring {size} mm.",
                  "There is {a_desc}asymmetry in the {loc} ({size} mm).",
                  "In the {loc} there is {a_desc}asymmetry of {size} mm."),
}
_NEGATIVE_NAMES = {"mass": ("mass", "suspicious mass", "dominant mass"),
                   "calcification": ("suspicious calcifications", "microcalcifications", "calcifications"),
                   "architectural distortion": ("architectural distortion",),
                   "asymmetry": ("asymmetry", "focal asymmetry")}
_NEGATIVE_TEMPLATES = ("No {items} is seen.", "There is no {items}.", "No evidence of {items}.",
                       "No {items} is identified.")
_SKIN_SENTENCES = ("The skin and nipple are unremarkable.", "No skin thickening or nipple retraction.",
                   "No skin thickening, nipple retraction or axillary lymphadenopathy.",
                   "Skin and nipple appear normal.")
_MORPHOLOGY = {
    ("mass", "malignant"): ("irregular, spiculated ", "irregular ", "spiculated "),
    ("mass", "benign"): ("oval, circumscribed ", "round, well-circumscribed ", "circumscribed "),
    ("calcification", "malignant"): ("fine pleomorphic ", "fine linear branching ", "clustered pleomorphic "),
    ("calcification", "benign"): ("coarse ", "punctate ", "round "),
    ("asymmetry", "malignant"): ("developing ",),
    ("asymmetry", "benign"): ("global ", ""),
}
_IMPRESSIONS: dict[str, tuple[str, ...]] = {
    "0": ("Incomplete: additional imaging evaluation is needed.",
          "Incomplete study; further imaging is recommended."),
    "1": ("Negative mammogram. Routine screening is recommended.",
          "Normal study. Continue routine screening."),
    "2": ("Benign findings. Routine screening is recommended.",
          "Benign appearance. Continue routine screening."),
    "3": ("Probably benign finding; short-interval follow-up in 6 months is suggested.",
          "Probably benign. A 6-month follow-up mammogram is advised."),
    "4a": ("Low suspicion for malignancy; biopsy is recommended.",
           "Suspicious abnormality (low suspicion); tissue sampling is advised."),
    "4b": ("Moderate suspicion for malignancy; biopsy is recommended.",
           "Suspicious abnormality (moderate suspicion); tissue sampling is advised."),
    "4c": ("High suspicion for malignancy; biopsy is recommended.",
           "Suspicious abnormality (high suspicion); tissue sampling is advised."),
    "4": ("Suspicious abnormality; biopsy should be considered.",
          "Suspicious finding; tissue sampling is advised."),
    "5": ("Highly suggestive of malignancy; biopsy and appropriate action are recommended.",
          "Highly suspicious for malignancy; tissue diagnosis is required."),
    "6": ("Known biopsy-proven malignancy; appropriate action should be taken.",
          "Known malignancy; treatment planning is advised."),
}
_BIRADS_LINES = ("BIRADS: {cat}", "BIRADS: Category {cat}", "BIRADS: {CAT}")
_VIEW_NAMES = {"CC": ("craniocaudal (CC)", "CC"), "MLO": ("mediolateral oblique (MLO)", "MLO")}


# ----------------------------------------------------------------------------------------------- record facts


def record_density(record: Record) -> str | None:
    """ACR density A-D from ``extra["density"]`` or the ``ACR`` label ("Level C")."""
    val = record.extra.get("density")
    if not val and record.labels.get("ACR"):
        val = record.labels["ACR"][0].split()[-1]
    val = str(val).strip().upper() if val else None
    return val if val in ("A", "B", "C", "D") else None


def record_birads(record: Record) -> str | None:
    """BI-RADS from ``extra["birads"]`` (keeps 4a-4c) or the ``Bi-Rads`` label ("Bi-Rads 4")."""
    val = record.extra.get("birads")
    if val is None and record.labels.get("Bi-Rads"):
        val = record.labels["Bi-Rads"][0].split()[-1]
    if val is None:
        return None
    val = str(val).strip().lower()
    return val if val in _IMPRESSIONS else None


def derived_birads(lesions: Sequence[dict[str, Any]]) -> str:
    """BI-RADS implied by the lesions when the record states none: none -> 1, benign -> 2, malignant -> 4b/5."""
    if not lesions:
        return "1"
    malignant = [les for les in lesions if str(les.get("pathology", "")).lower().startswith("malig")]
    if not malignant:
        return "2"
    spiculated = any("spic" in str(les.get("morphology", "")).lower() for les in malignant)
    return "5" if spiculated else "4b"


def _image_wh(record: Record) -> tuple[float, float]:
    ex = record.extra
    size = ex.get("image_size") or ex.get("size")
    if isinstance(size, int | float):
        return float(size), float(size)
    if isinstance(size, list | tuple) and len(size) == 2:
        return float(size[0]), float(size[1])
    if "width" in ex and "height" in ex:
        return float(ex["width"]), float(ex["height"])
    if isinstance(ex.get("shape"), list | tuple) and len(ex["shape"]) >= 2:  # numpy order (h, w)
        return float(ex["shape"][1]), float(ex["shape"][0])
    return float(DEFAULT_IMAGE_SIZE), float(DEFAULT_IMAGE_SIZE)


# ----------------------------------------------------------------------------------------------- geometry


@dataclasses.dataclass(frozen=True)
class Location:
    quadrant: str  # UOQ/UIQ/LOQ/LIQ/central/retroareolar
    clock: int | None  # 1..12, None for central/retroareolar
    depth: str  # anterior/middle/posterior


def _unseen_axis(seed: int, record: Record, index: int, lesion: dict[str, Any]) -> float:
    given = lesion.get("superior" if (record.view or "").upper().startswith("CC") else "lateral")
    if isinstance(given, int | float):
        return max(-1.0, min(1.0, float(given)))
    key = lesion.get("id", index)
    return random.Random(f"mammovqa-axis:{seed}:{record.patient_id}:{record.laterality}:{key}").uniform(-1.0, 1.0)


def lesion_location(center: Sequence[float], image_wh: tuple[float, float], laterality: str | None,
                    view: str | None, unseen: float = 0.0, chest_wall: str | None = None) -> Location:
    """Quadrant, clock face and depth of a lesion (see the module docstring for the convention).

    ``unseen`` in [-1, 1] supplies the axis the view does not resolve (+1 lateral for CC's missing
    superior-inferior axis is *superior*; for MLO's missing medial-lateral axis +1 is lateral).
    """
    w, h = image_wh
    x, y = float(center[0]), float(center[1])
    left = (laterality or "Left").lower().startswith("l")
    wall = chest_wall or ("left" if left else "right")
    depth_frac = x / w if wall == "left" else (w - x) / w
    axis = max(-1.0, min(1.0, (h / 2 - y) / (h / 2)))  # +1 at the top of the image
    if (view or "MLO").upper().startswith("CC"):
        lateral, superior = axis, unseen
    else:
        lateral, superior = unseen, axis
    depth = "anterior" if depth_frac > 0.66 else "middle" if depth_frac > 0.33 else "posterior"
    if math.hypot(lateral, superior) < 0.2:
        return Location("retroareolar" if depth_frac > 0.7 else "central", None, depth)
    quadrant = ("U" if superior >= 0 else "L") + ("O" if lateral >= 0 else "I") + "Q"
    viewer_x = lateral if left else -lateral  # examiner facing the patient: left breast lateral = 3 o'clock
    hour = round(math.degrees(math.atan2(viewer_x, superior)) / 30.0) % 12
    return Location(quadrant, 12 if hour == 0 else hour, depth)


# ----------------------------------------------------------------------------------------------- phrasing


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _size_mm(lesion: dict[str, Any], spacing: float | None) -> int:
    if lesion.get("size_mm") is not None:
        return max(1, round(float(lesion["size_mm"])))
    radius = float(lesion.get("radius_px", 5))
    return max(1, round(2 * radius * (spacing or 0.1)))


def _location_phrase(rng: random.Random, loc: Location, side: str) -> str:
    if loc.clock is None:
        return rng.choice((f"{QUADRANT_NAMES[loc.quadrant]} of the {side} breast",
                           f"{side} {QUADRANT_NAMES[loc.quadrant]}"))
    name = QUADRANT_NAMES[loc.quadrant]
    return rng.choice((f"{name} of the {side} breast at {loc.clock} o'clock",
                       f"{side} breast, {loc.quadrant}, {loc.clock} o'clock position, {loc.depth} depth",
                       f"{side} {name} ({loc.quadrant}), {loc.depth} third",
                       f"{side} breast at {loc.clock} o'clock ({name})"))


def _descriptor(rng: random.Random, term: str, lesion: dict[str, Any]) -> str:
    morph = str(lesion.get("morphology") or "").replace("_", " ").strip().lower()
    if morph and morph not in ("none", "nan", "-"):
        return morph + " "
    malignant = str(lesion.get("pathology", "")).lower().startswith("malig")
    options = _MORPHOLOGY.get((term, "malignant" if malignant else "benign"), ("",))
    return rng.choice(options)


def _finding_sentence(rng: random.Random, term: str, lesion: dict[str, Any], loc_text: str, size: int) -> str:
    desc = _descriptor(rng, term, lesion)
    template = rng.choice(_FINDING_SENTENCES[term])
    a_desc = f"{_article(desc or term)} {desc}"
    text = template.format(desc=desc, Desc=(desc[:1].upper() + desc[1:]) if desc else "", a_desc=a_desc,
                           A_desc=a_desc[:1].upper() + a_desc[1:], loc=loc_text, size=size).replace("  ", " ")
    return text[:1].upper() + text[1:]


def _negative_sentence(rng: random.Random, absent: Sequence[str]) -> str:
    names = [rng.choice(_NEGATIVE_NAMES[t]) for t in absent]
    items = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return rng.choice(_NEGATIVE_TEMPLATES).format(items=items)


def _lesion_term(lesion: dict[str, Any]) -> str | None:
    return TYPE_TERM.get(str(lesion.get("type", "")).strip().lower())


# ----------------------------------------------------------------------------------------------- reports


def phantom_report(record: Record, seed: int = 0) -> str:
    """The report for one record: Breast Composition, BIRADS, Findings and Impression sections."""
    rng = random.Random(f"mammovqa-report:{seed}:{record.record_id}")
    lesions = [les for les in record.extra.get("lesions") or [] if _lesion_term(les)]
    side = (record.laterality or "Left").lower()
    density = record_density(record)
    birads = record_birads(record) or derived_birads(lesions)

    composition = rng.choice(_DENSITY_SENTENCES[density]) if density else "Breast composition not assessed."
    view = (record.view or "").upper()
    findings = []
    if view in _VIEW_NAMES:
        findings.append(f"{record.laterality or 'Left'} {rng.choice(_VIEW_NAMES[view])} view.")
    present: list[str] = []
    for i, lesion in enumerate(lesions):
        term = _lesion_term(lesion)
        assert term is not None
        present.append(term)
        loc = lesion_location(lesion.get("center") or (0, 0), _image_wh(record), record.laterality, record.view,
                              _unseen_axis(seed, record, i, lesion), record.extra.get("chest_wall"))
        size = _size_mm(lesion, record.extra.get("pixel_spacing_mm"))
        findings.append(_finding_sentence(rng, term, lesion, _location_phrase(rng, loc, side), size))
    absent = [t for t in _FINDING_SENTENCES if t not in present]
    if absent:
        findings.append(_negative_sentence(rng, absent))
    findings.append(rng.choice(_SKIN_SENTENCES))
    if not lesions:
        findings.insert(1 if len(findings) > 2 else 0, rng.choice(("No suspicious abnormality is seen.",
                                                                   "No significant abnormality is identified.")))
    birads_line = rng.choice(_BIRADS_LINES).format(cat=birads, CAT=birads.upper())
    impression = f"{rng.choice(_IMPRESSIONS[birads])} BI-RADS {birads.upper()}."
    return "\n".join((f"Breast Composition: {composition}", birads_line, "Findings: " + " ".join(findings),
                      f"Impression: {impression}"))


def write_phantom_reports(records: Iterable[Record], seed: int = 0, overwrite: bool = False) -> list[Record]:
    """Copies of ``records`` with ``.report`` filled by the grammar; existing reports kept unless ``overwrite``."""
    out = []
    for rec in records:
        if rec.report and not overwrite:
            out.append(rec)
        else:
            out.append(dataclasses.replace(rec, report=phantom_report(rec, seed)))
    return out
