"""Report parsing: BI-RADS (sub-categories, roman numerals, several values), density, negated findings."""

import pytest

from mammovqa.report.parse import (
    BIRADS_RANK,
    collapse_birads,
    finding_terms,
    highest_birads,
    parse_birads,
    parse_density,
    parse_report,
    report_problems,
    split_sections,
)

DMID_STYLE = """Breast Composition:
ACR C: The breasts are heterogeneously dense, which may obscure small masses.

BIRADS:
Right breast - 2
Left breast - 4b

Findings:
An irregular mass with spiculated margins is seen in the upper outer quadrant of the left breast.
No suspicious microcalcifications. No skin thickening or nipple retraction.
"""


@pytest.mark.parametrize("text, expected", [
    ("BI-RADS 4A", "4a"),
    ("BIRADS: 4b", "4b"),
    ("Bi-Rads category 3", "3"),
    ("BI-RADS IV", "4"),
    ("BI-RADS V.", "5"),
    ("bi-rads iii", "3"),
    ("ACR BI-RADS Category 1, negative.", "1"),
    ("BIRADS 0 - incomplete", "0"),
    ("BI-RADS 6: known malignancy", "6"),
    ("BI-RADS 4-C", "4c"),
    ("BIRADS:\nRight breast: category 2\nLeft breast: category 4c", "4c"),  # multi-valued -> highest
    ("BIRADS: 2, 4a", "4a"),
    ("BI-RADS 4 and 4c", "4c"),  # unspecified 4 ranks below its sub-categories
    ("BI-RADS 4 and 3", "4"),
    ("BIRADS 3/4", "4"),
    ("BI-RADS 5. Earlier study: BI-RADS 4c.", "5"),
    ("BI-RADS 0 and 1", "1"),  # 0 (incomplete) is the lowest on the scale
    ("Assessment: 2", "2"),
    ("BIRADS (R/L): 2 / 3", "3"),
    ("BREAST COMPOSITION: ACR-B\nBIRADS CATEGORY: 4A\nFINDINGS: Irregular mass.", "4a"),
    ("BIRADS: Right breast - BIRADS 1, Left breast - BIRADS 4", "4"),
    ("BI-RADS: 3.", "3"),
    (DMID_STYLE, "4b"),
    ("The breasts are dense. No mass.", None),
    ("BI-RADS: not assessed", None),
    ("", None),
    ("category 2", None),  # a bare "category" outside a BI-RADS section is not BI-RADS
    ("mass of 4 mm at 3 o'clock", None),
    ("BI-RADS density C", None),  # a density letter after BI-RADS is not an assessment
])
def test_parse_birads_table(text, expected):
    assert parse_birads(text) == expected


def test_bare_numbers_in_birads_section_skip_sizes():
    assert parse_birads("BIRADS:\nmass 5 mm, category 3") == "3"


def test_rank_order_and_collapse():
    order = sorted(BIRADS_RANK, key=BIRADS_RANK.__getitem__)
    assert order == ["0", "1", "2", "3", "4", "4a", "4b", "4c", "5", "6"]
    assert highest_birads(["4c", "4"]) == "4c"
    assert highest_birads([]) is None
    assert [collapse_birads(c) for c in ("4a", "4b", "4c", "5", None)] == ["4", "4", "4", "5", None]


@pytest.mark.parametrize("text, expected", [
    ("ACR C", "C"),
    ("ACR density: b", "B"),
    ("Breast Composition: a) almost entirely fatty", "A"),
    ("The breasts are heterogeneously dense.", "C"),
    ("extremely dense breast tissue", "D"),
    ("There are scattered areas of fibroglandular density.", "B"),
    ("scattered fibroglandular densities", "B"),
    ("The breasts are almost entirely fatty.", "A"),
    ("ACR 3", "C"),  # BI-RADS 4th-edition numbering
    ("Right: ACR B. Left: ACR C.", "C"),  # several -> densest
    ("ACR BI-RADS 4", None),
    ("Composition: The parenchyma is fibroglandular.", None),
    ("Breast Composition: a fatty-glandular breast", None),  # the article "a" is not ACR a
    ("Breast Composition (ACR): C", "C"),
    ("Breast Composition:\nb) scattered", "B"),
    ("", None),
])
def test_parse_density(text, expected):
    assert parse_density(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("No mass, calcification or architectural distortion is seen.", set()),
    ("There is a mass but no calcifications.", {"mass"}),
    ("A 12 mm mass without calcifications.", {"mass"}),
    ("Calcifications are not seen. A spiculated mass.", {"mass"}),
    ("Negative for architectural distortion; focal asymmetry in the UOQ.", {"asymmetry"}),
    ("Skin thickening and nipple retraction.", {"skin change", "nipple change"}),
    ("Axillary lymph nodes are unremarkable.", set()),
    ("Enlarged axillary lymph nodes.", {"lymph node"}),
    ("Clustered microcalcifications and architectural distortion.", {"calcification", "architectural distortion"}),
    ("Asymmetry: none.", set()),
    ("Breast Composition: ACR C, may obscure small masses.\nFindings: no suspicious finding.", set()),
])
def test_finding_terms_negation(text, expected):
    assert finding_terms(text) == expected


def test_sections_dmid_style():
    sec = split_sections(DMID_STYLE)
    assert set(sec) == {"composition", "birads", "findings"}
    assert "heterogeneously dense" in sec["composition"]
    assert "spiculated" in sec["findings"]
    parsed = parse_report(DMID_STYLE)
    assert (parsed.birads, parsed.density) == ("4b", "C")
    assert parsed.findings == {"mass"}
    assert any("several BI-RADS" in p for p in parsed.problems)


def test_non_ascii_and_windows_text_parse():
    text = "Breast Composition:\u00a0ACR\u00a0D \u2013 extremely dense\r\nBIRADS\u2009: 4\u2013a\r\nFindings: n\u00e9ant."
    assert parse_density(text) == "D"
    assert parse_birads(text) == "4a"


def test_problems_listed_not_dropped():
    rows = report_problems({"r1": "Findings: a mass.", "r2": "", "r3": "BIRADS: 2\nComposition: ACR B"})
    by_id = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r["problem"])
    assert "no BI-RADS category stated" in by_id["r1"]
    assert "no breast density stated" in by_id["r1"]
    assert by_id["r2"] == ["empty report"]
    assert "r3" not in by_id


@pytest.mark.parametrize("text, expected", [
    ("BIRADS IVa: indeterminate microcalcifications Lt breast.", "4a"),
    ("BI-RADS: IVb.", "4b"),
    ("No breast mass identified. Category 4 BI-RADS.", "4"),
    ("Density category A. BI-RADS 2.", "2"),
])
def test_roman_subcategory_and_category_before_keyword(text: str, expected: str) -> None:
    """Held-out phrasings the clinical corpus missed (h18, h03): a roman numeral keeps its a/b/c, and a value
    written before the keyword is read; a density letter after "category" is never a BI-RADS value."""
    assert parse_birads(text) == expected
