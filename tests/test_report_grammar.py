"""Phantom report grammar: determinism, variety, and agreement with the parser and the record's labels."""

import random

import pytest

from mammovqa.data.records import Record
from mammovqa.report.grammar import (
    derived_birads,
    lesion_location,
    phantom_report,
    record_birads,
    record_density,
    write_phantom_reports,
)
from mammovqa.report.parse import parse_birads, parse_density, parse_report

TYPES = ("mass", "calcification", "distortion", "asymmetry")
TERM = {"distortion": "architectural distortion"}


def make_record(i: int, rng: random.Random, **extra) -> Record:
    lesions = [{"type": rng.choice(TYPES), "morphology": rng.choice(("spiculated", "circumscribed", None)),
                "center": [rng.uniform(0, 512), rng.uniform(0, 512)], "radius_px": rng.uniform(3, 30),
                "size_mm": rng.choice((None, 12.4)), "pathology": rng.choice(("benign", "malignant"))}
               for _ in range(rng.randint(0, 3))]
    ex = {"lesions": lesions, "density": rng.choice("ABCD"),
          "birads": rng.choice(("0", "1", "2", "3", "4", "4a", "4b", "4c", "5")),
          "pixel_spacing_mm": 0.2, "image_size": 512, **extra}
    return Record(f"Phantom-DMID-breast/{i:04d}", "Phantom-DMID-breast", "breast", [f"img{i}.png"], {},
                  f"P{i // 2}", laterality=rng.choice(("Left", "Right")), view=rng.choice(("CC", "MLO")), extra=ex)


@pytest.fixture(scope="module")
def records():
    rng = random.Random(7)
    return [make_record(i, rng) for i in range(200)]


def test_deterministic_per_seed_and_record(records):
    a = [phantom_report(r, seed=3) for r in records]
    b = [phantom_report(r, seed=3) for r in reversed(records)][::-1]  # order of generation does not matter
    assert a == b
    c = [phantom_report(r, seed=4) for r in records]
    assert sum(x != y for x, y in zip(a, c)) > len(records) // 2  # another seed rewords


def test_parser_reads_back_the_labels(records):
    for rec in records:
        text = phantom_report(rec, seed=0)
        parsed = parse_report(text)
        assert parse_birads(text) == rec.extra["birads"], text
        assert parse_density(text) == rec.extra["density"], text
        assert parsed.findings == {TERM.get(les["type"], les["type"]) for les in rec.extra["lesions"]}, text
        assert parsed.problems == [], (parsed.problems, text)
        assert set(parsed.sections) >= {"composition", "birads", "findings", "impression"}


def test_varied_phrasing(records):
    first_findings = {phantom_report(r, 0).split("Findings: ")[1].split(". ")[1][:25] for r in records}
    assert len(first_findings) > 10
    assert len({phantom_report(r, 0).splitlines()[0] for r in records}) >= 8  # density sentences vary


def test_labels_fallback_and_derived_birads():
    rec = Record("x/1", "d", "breast", ["a.png"], {"Bi-Rads": ["Bi-Rads 3"], "ACR": ["Level B"]}, "p",
                 laterality="Right", view="CC")
    assert (record_birads(rec), record_density(rec)) == ("3", "B")
    assert parse_birads(phantom_report(rec)) == "3"
    assert derived_birads([]) == "1"
    assert derived_birads([{"pathology": "benign"}]) == "2"
    assert derived_birads([{"pathology": "malignant", "morphology": "spiculated"}]) == "5"
    bare = Record("x/2", "d", "breast", ["a.png"], {}, "p", laterality="Left", view="MLO")
    assert parse_birads(phantom_report(bare)) == "1"
    assert parse_density(phantom_report(bare)) is None


def test_geometry_convention():
    # CC, top of image = lateral; left breast: chest wall at the left edge, lateral at 3 o'clock
    loc = lesion_location((300, 50), (512, 512), "Left", "CC", unseen=0.8)
    assert loc.quadrant == "UOQ" and loc.clock in (1, 2)
    loc = lesion_location((212, 50), (512, 512), "Right", "CC", unseen=0.8)
    assert loc.quadrant == "UOQ" and loc.clock in (10, 11)
    # MLO, bottom of image = inferior
    loc = lesion_location((300, 480), (512, 512), "Left", "MLO", unseen=-0.9)
    assert loc.quadrant == "LIQ" and loc.clock in (7, 8)
    assert lesion_location((480, 256), (512, 512), "Left", "MLO", unseen=0.0).quadrant == "retroareolar"
    assert lesion_location((60, 256), (512, 512), "Left", "MLO", unseen=0.0).quadrant == "central"


def test_cc_and_mlo_agree_when_the_lesion_gives_the_unseen_axis():
    # left breast, lesion upper (superior +0.8) and outer (lateral +0.8): CC sees lateral, MLO sees superior
    les = {"type": "mass", "center": [300, 51], "radius_px": 10, "pathology": "benign", "superior": 0.8,
           "lateral": 0.8}
    reports = []
    for view in ("CC", "MLO"):
        rec = Record(f"a/{view}", "d", "breast", ["c.png"], {}, "P9", laterality="Left", view=view,
                     extra={"lesions": [les], "birads": "2", "density": "B", "image_size": 512})
        reports.append(phantom_report(rec))
    for text in reports:
        assert "UOQ" in text or "upper outer" in text, text
    les_inner = dict(les, lateral=-0.8)
    rec = Record("a/m2", "d", "breast", ["c.png"], {}, "P9", laterality="Left", view="MLO",
                 extra={"lesions": [les_inner], "birads": "2", "density": "B", "image_size": 512})
    text = phantom_report(rec)
    assert "UIQ" in text or "upper inner" in text, text


def test_write_phantom_reports_keeps_existing(records):
    recs = [records[0], Record("k/1", "d", "breast", ["a.png"], {}, "p", report="BIRADS: 2")]
    out = write_phantom_reports(recs, seed=1)
    assert out[0].report == phantom_report(records[0], 1)
    assert out[1].report == "BIRADS: 2"
    assert records[0].report is None  # inputs are not mutated
    assert write_phantom_reports(recs, seed=1, overwrite=True)[1].report != "BIRADS: 2"
