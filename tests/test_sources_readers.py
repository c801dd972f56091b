"""Every dataset reader on a fixture in its published layout: labels, unmapped values, missing images, grouping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fixtures_sources import EMBED_BIG_ACC, MAKERS, make_cdd_cesm, make_inbreast, make_lamis
from mammovqa.config import load_datasets, load_topics
from mammovqa.data.records import Record
from mammovqa.data.sources import get_reader, reader_class
from mammovqa.data.sources.dmid import find_report, read_report
from mammovqa.errors import DataError
from mammovqa.paths import LABELS_DIR

NAMES = list(MAKERS)
# datasets whose images are found by walking folders: no label row can name a missing image
WALKED = {"KAU-BCMD", "LAMIS-DMDB", "MM"}
# (same patient pair, different patient pair) of record ids in each fixture
GROUPS = {
    "BMCD": (("BMCD/Normal_1_CC_recent", "BMCD/Normal_1_MLO_prior"),
             ("BMCD/Normal_1_CC_recent", "BMCD/Suspicious_1_CC_prior")),
    "CBIS-DDSM": (("CBIS-DDSM-breast/Mass-Training_P_00001_LEFT_MLO", "CBIS-DDSM-finding/Calc-Training_P_00001_LEFT_CC_2"),
                  ("CBIS-DDSM-breast/Mass-Training_P_00001_LEFT_MLO", "CBIS-DDSM-breast/Mass-Test_P_00002_RIGHT_MLO")),
    "CDD-CESM": (("CDD-CESM/P1_L_DM_CC", "CDD-CESM/P1_L_DM_MLO"), ("CDD-CESM/P1_L_DM_CC", "CDD-CESM/P2_R_DM_CC")),
    "DMID": (("DMID-breast/IMG001", "DMID-finding/IMG001_2"), ("DMID-breast/IMG001", "DMID-breast/IMG002")),
    "INbreast": (("INbreast/22678622", "INbreast/22678646"), ("INbreast/22678622", "INbreast/20586908")),
    "MIAS": (("MIAS-breast/mdb001", "MIAS-finding/mdb002_1"), ("MIAS-breast/mdb004", "MIAS-finding/mdb005_2")),
    "CSAW-M": (None, ("CSAW-M/train_1", "CSAW-M/train_2")),
    "KAU-BCMD": (("KAU-BCMD/2013_BC011502_CC_L", "KAU-BCMD/2013_BC011502_MLO_L"),
                 ("KAU-BCMD/2013_BC011502_CC_L", "KAU-BCMD/2014_BC000200_CC_R")),
    "VinDr-Mammo": (("VinDr-Mammo-breast/img0a", "VinDr-Mammo-finding/img0b_1"),
                    ("VinDr-Mammo-breast/img0a", "VinDr-Mammo-breast/img1a")),
    "RSNA": (("RSNA/10006_462822612", "RSNA/10006_1459541791"), ("RSNA/10006_462822612", "RSNA/10011_220375232")),
    "EMBED": (("EMBED/6001", f"EMBED/{EMBED_BIG_ACC}"), ("EMBED/6001", "EMBED/6002")),
    "DBT": (("DBT/DBT-P00013_lcc_1", "DBT/DBT-P00013_rmlo_2"), None),
    "LAMIS-DMDB": (("LAMIS/P001_1_L_CC", "LAMIS/P001_2_L_MLO"), ("LAMIS/P001_1_L_CC", "LAMIS/P002_1_R_LMO")),
    "MM": (None, ("MM/Cancer/IMG_0001", "MM/Cancer/IMG_0002")),
    "NLBS": (("NLBS/normal/E0001/left/CC/IM-0001-0001-0001.dcm", "NLBS/normal/E0001/right/MLO/IM-0001-0004-0001.dcm"),
             ("NLBS/normal/E0001/left/CC/IM-0001-0001-0001.dcm",
              "NLBS/False Positive/E0002/left/CC/IM-0001-0005-0001.dcm")),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, list[Record], dict]]:
    """Each fixture built once and read once for the module (the readers are deterministic)."""
    out = {}
    for name, make in MAKERS.items():
        root = make(tmp_path_factory.mktemp(name.lower()))
        reader = get_reader(name, root)
        out[name] = (root, list(reader.records()), reader.summary)
    return out


def _raw_values(records: list[Record]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for rec in records:
        for topic, v in rec.raw_labels.items():
            seen.setdefault(topic, set()).update(v if isinstance(v, list) else [v])
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_records_are_valid_and_cover_the_label_map(name, built):
    root, records, summary = built[name]
    topics = load_topics()
    dataset = load_datasets().get(name)
    parts = {p.name: p for p in dataset.parts.values()}
    assert records, name
    for rec in records:
        assert rec.dataset in parts, rec.dataset
        assert rec.kind == {"breast": "breast", "finding": "finding", "exam": "exam"}[parts[rec.dataset].part]
        assert rec.images and all(Path(p).exists() and Path(p).is_relative_to(root) for p in rec.images)
        assert rec.patient_id and rec.record_id.startswith(rec.dataset + "/")
        for topic, options in rec.labels.items():
            assert topic in parts[rec.dataset].topics, (rec.record_id, topic)
            assert isinstance(options, list) and options
            assert all(o in topics[topic].options for o in options), (rec.record_id, topic, options)
            assert topic in rec.raw_labels
        if rec.box is not None:
            x0, y0, x1, y1 = rec.box
            assert 0 <= x0 < x1 and 0 <= y0 < y1
    assert len({r.record_id for r in records}) == len(records), "record ids must be unique"
    reader = get_reader(name, root)
    seen = _raw_values(records)
    uncovered = {t: set(reader.labels.raw_values(t)) - seen.get(t, set()) for t in reader.labels.topics}
    assert not any(uncovered.values()), f"fixture lacks raw values {uncovered}"
    assert summary["records"] == len(records)
    assert sum(summary["parts"].values()) == len(records)


@pytest.mark.parametrize("name", NAMES)
def test_reading_is_deterministic(name, built):
    root, records, _ = built[name]
    again = list(get_reader(name.upper(), root).records())
    assert [r.to_json() for r in again] == [r.to_json() for r in records]


def _labels_without(name: str, built: dict, tmp_path: Path) -> tuple[Path, str, str, Path]:
    """A copy of the label maps with one raw value the fixture uses removed: (labels dir, topic, value, root)."""
    root, records, _ = built[name]
    topic, raw = next((t, v if isinstance(v, str) else v[0]) for r in records for t, v in r.raw_labels.items()
                      if t in r.labels)
    stem = reader_class(name)(root).labels.file.name
    labels_dir = tmp_path / "labels"
    shutil.copytree(LABELS_DIR, labels_dir)
    doc = yaml.safe_load((labels_dir / stem).read_text(encoding="utf-8"))
    entries = doc["topics"][topic]
    key = next(k for k in entries if str(k) == raw)
    del entries[key]
    (labels_dir / stem).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return labels_dir, topic, raw, root


@pytest.mark.parametrize("name", NAMES)
def test_strict_labels_stops_naming_dataset_file_row_and_value(name, built, tmp_path):
    labels_dir, topic, raw, root = _labels_without(name, built, tmp_path)
    with pytest.raises(DataError) as info:
        list(reader_class(name)(root, labels_dir, strict_labels=True).records())
    msg = str(info.value)
    assert name in msg and repr(raw) in msg and topic in msg
    assert info.value.row is not None and info.value.file


@pytest.mark.parametrize("name", NAMES)
def test_unmapped_value_withholds_that_label_only_and_is_counted(name, built, tmp_path):
    labels_dir, topic, raw, root = _labels_without(name, built, tmp_path)
    _, records, _ = built[name]
    reader = reader_class(name)(root, labels_dir)
    again = list(reader.records())
    assert [r.record_id for r in again] == [r.record_id for r in records]  # no record lost
    hit = [w for w in reader.summary["withheld"] if w["topic"] == topic and w["value"] == raw]
    assert hit and all(w["count"] >= 1 and w["rows"] and w["file"] for w in hit)  # one entry per label file
    assert reader.summary["labels_withheld"] >= sum(w["count"] for w in hit)
    changed = 0
    for a, b in zip(records, again, strict=True):
        assert {t: v for t, v in a.labels.items() if t != topic} == {t: v for t, v in b.labels.items() if t != topic}
        changed += a.labels.get(topic) != b.labels.get(topic)
    assert changed >= 1


@pytest.mark.parametrize("name", sorted(set(NAMES) - WALKED))
def test_missing_image_is_counted_with_file_and_row(name, built, caplog):
    _, records, summary = built[name]
    assert summary["missing_images"] >= 1
    first = summary["missing"][0]
    assert first["file"] and first["row"] is not None and first["image"]
    assert not Path(first["image"]).exists()
    assert all(r.record_id != first["record"] or r.dataset == "EMBED" for r in records)


@pytest.mark.parametrize("name", NAMES)
def test_patient_and_exam_grouping(name, built):
    _, records, _ = built[name]
    by_id = {r.record_id: r for r in records}
    same, different = GROUPS[name]
    if same:
        assert by_id[same[0]].patient_id == by_id[same[1]].patient_id
    if different:
        assert by_id[different[0]].patient_id != by_id[different[1]].patient_id


# ------------------------------------------------------------------ dataset-specific behaviour


def test_mias_box_flips_the_bottom_left_origin(built):
    _, records, summary = built["MIAS"]
    rec = next(r for r in records if r.record_id == "MIAS-finding/mdb001_1")  # x 535, y 425, r 197
    assert rec.box == [338, 1024 - 425 - 197, 732, 1024 - 425 + 197]
    assert rec.laterality == "Right" and rec.view == "MLO"
    assert next(r for r in records if r.record_id == "MIAS-breast/mdb002").laterality == "Left"
    assert summary["exclusions"]["finding without coordinates (widely distributed calcification or *NOTE*)"] == 2
    assert {r.record_id for r in records if r.record_id.startswith("MIAS-breast/mdb005")} == {"MIAS-breast/mdb005"}


def test_dmid_aggregation_and_reports(built):
    root, records, _ = built["DMID"]
    by_id = {r.record_id: r for r in records}
    assert by_id["DMID-breast/IMG001"].labels["Pathology"] == ["Malignant"]  # any M
    assert by_id["DMID-breast/IMG003"].labels["Pathology"] == ["Benign"]  # abnormal coded N -> B
    assert by_id["DMID-breast/IMG004"].labels["Background tissue"] == ["Dense-glandular"]  # last non '-'
    assert by_id["DMID-finding/IMG005_1"].box == [0, 0, 32, 24]  # clipped to the 32x24 image
    assert "circumscribed mass" in by_id["DMID-breast/IMG001"].report
    assert by_id["DMID-breast/IMG002"].report == "Normal study.\nNo mass."
    assert by_id["DMID-breast/IMG003"].report is None
    assert find_report(root, "IMG002").suffix == ".rtf" and find_report(root, "IMG009") is None
    assert read_report(find_report(root, "IMG001")).startswith("BREAST COMPOSITION")


def test_cbis_merges_mass_calc_duplicates_and_takes_worst_birads(built):
    _, records, summary = built["CBIS-DDSM"]
    breast = [r for r in records if r.dataset == "CBIS-DDSM-breast" and "P_00001_LEFT_CC" in r.record_id]
    assert len(breast) == 1 and breast[0].labels["Bi-Rads"] == ["Bi-Rads 4"]  # max of 4, 0, 2 in atlas order
    assert breast[0].extra["aliases"] == ["Mass-Training_P_00001_LEFT_CC"]
    assert summary["duplicates"][0]["image_id"] == "P_00001_LEFT_CC"
    crop = next(r for r in records if r.record_id == "CBIS-DDSM-finding/Mass-Training_P_00001_LEFT_CC_1")
    assert "jpeg" in crop.images[0] and crop.source_image != crop.images[0]
    assert crop.extra["roi_mask"] != crop.images[0]  # same series folder, told apart by SeriesDescription
    assert not any(r.record_id.startswith("CBIS-DDSM-finding/Calc-Test_P_00003") for r in records)


def test_csaw_laterality_withheld_unless_asked(built):
    root, records, summary = built["CSAW-M"]
    assert all("Laterality" not in r.labels for r in records)
    assert summary["exclusions"]["Laterality withheld: CSAW-M images are pre-flipped to face left"] == 10
    official = list(reader_class("CSAW-M")(root, image_laterality=True).records())
    assert official[0].labels["Laterality"] == ["Left"]
    assert {r.extra["official_split"] for r in records} == {"train", "test"}


def test_kau_duplicate_kept_once_with_highest_folder(built):
    _, records, summary = built["KAU-BCMD"]
    dup = [r for r in records if r.record_id == "KAU-BCMD/2018_BC005421_CC_R"]
    assert len(dup) == 1 and dup[0].labels["Bi-Rads"] == ["Bi-Rads 5"]
    assert summary["duplicates"] and "Birad5" in summary["duplicates"][0]["resolution"]
    assert "KAU-BCMD/2015_BC0123_CC_R" in {r.record_id for r in records}  # space removed from the name


def test_rsna_nonstandard_birads_views_and_empty_sites(built):
    _, records, summary = built["RSNA"]
    by_id = {r.record_id: r for r in records}
    assert "Bi-Rads" not in by_id["RSNA/10006_1864590858"].labels  # RSNA BIRADS 2 = "normal": excluded
    assert by_id["RSNA/10006_1459541791"].labels["Bi-Rads"] == ["Bi-Rads 0"]
    assert summary["exclusions"]["view other than CC/MLO"] == 1
    assert summary["absent_labels"]["RSNA"] == {"ACR": 3, "Bi-Rads": 3}
    assert by_id["RSNA/10011_541722628"].images[0].endswith(".png") and by_id["RSNA/10011_220375232"].site == "2"


def test_embed_exam_labels_and_string_ids(built):
    _, records, summary = built["EMBED"]
    by_id = {r.record_id: r for r in records}
    big = by_id[f"EMBED/{EMBED_BIG_ACC}"]
    assert big.exam_id == f"EMBED-{EMBED_BIG_ACC}" and len(big.images) == 4
    assert by_id["EMBED/6001"].labels["Bi-Rads"] == ["Bi-Rads 0"]  # A outranks B
    assert by_id["EMBED/6003"].labels["Bi-Rads"] == ["Bi-Rads 4"]  # S outranks K
    assert "ACR" not in by_id["EMBED/6004"].labels and "Bi-Rads" not in by_id["EMBED/6005"].labels
    assert len(by_id["EMBED/6002"].images) == 3  # one image missing: the exam keeps the others
    assert summary["exclusions"]["spot compression / magnification image left out of the exam"] == 1
    assert summary["exclusions"]["exam without clinical rows (no labels)"] == 1


def test_dbt_boxes_in_duke_frame(built):
    _, records, _ = built["DBT"]
    rec = next(r for r in records if r.record_id == "DBT/DBT-P00013_lcc_1")
    assert rec.box == [4, 5, 14, 13] and rec.extra["slice_index"] == 1
    assert (rec.laterality, rec.view) == ("Left", "CC") and rec.labels == {"Pathology": ["Malignant"]}


def test_lamis_folder_spellings_and_annotated_copies(built, tmp_path):
    _, records, summary = built["LAMIS-DMDB"]
    by_id = {r.record_id: r for r in records}
    assert by_id["LAMIS/P012_1_L_MLO"].labels["Pathology"] == ["Normal"]  # 'Nomal' folder
    assert by_id["LAMIS/P003_1_R_CC"].labels["Pathology"] == ["Normal"]  # corrected: not Benign
    assert by_id["LAMIS/P002_1_R_LMO"].labels["View"] == ["MLO"]
    assert summary["exclusions"]["annotated copy (drawings on the image), not a mammogram to ask about"] == 1
    full_only = list(get_reader("lamis-dmdb", make_lamis(tmp_path / "vf", sample=False)).records())
    assert len(full_only) == 6 and all(r.images[0].endswith(".dcm") for r in full_only)


def test_mm_ignores_augmented_and_non_img_files(built):
    _, records, summary = built["MM"]
    assert all("Augmented" not in r.images[0] for r in records) and len(records) == 4
    assert summary["exclusions"] == {"file name does not start with IMG (official filter)": 1}


def test_nlbs_normal_vs_false_positive(built):
    _, records, _ = built["NLBS"]
    path = {r.extra["category"]: r.labels["Pathology"] for r in records}
    assert path == {"normal": ["Normal"], "False Positive": ["Benign"], "abnormal": ["Malignant"]}


def test_bmcd_views_timepoints_and_misspelling(built):
    _, records, _ = built["BMCD"]
    rec = next(r for r in records if r.record_id == "BMCD/Suspicious_1_CC_recemt")
    assert rec.view == "CC" and rec.extra["timepoint"] == "recent" and rec.labels["Bi-Rads"] == ["Bi-Rads 4"]
    assert rec.raw_labels["Bi-Rads"] == "4a"
    assert not any("._" in r.images[0] for r in records)


def test_inbreast_semicolon_csv_mirror(tmp_path):
    reader = get_reader("INbreast", make_inbreast(tmp_path, fmt="csv"))
    records = list(reader.records())
    assert len(records) == 9 and all("Abnormality" not in r.labels for r in records)
    assert any("lacks the Mass/Micros" in n for n in reader.summary["notes"])
    assert records[0].patient_id == "INbreast-6c613a14b80a8591"


def test_cdd_cesm_short_column_names_and_cesm_rows(tmp_path):
    reader = get_reader("CDD-CESM", make_cdd_cesm(tmp_path, short_names=True))
    records = list(reader.records())
    assert len(records) == 8
    assert reader.summary["exclusions"]["not a low-energy (DM) image"] == 1
    p2 = next(r for r in records if r.record_id == "CDD-CESM/P2_R_DM_CC")
    assert p2.labels["Bi-Rads"] == ["Bi-Rads 4"] and p2.raw_labels["Bi-Rads"] == "4$2"


def test_missing_required_column_names_file_and_column(tmp_path):
    root = MAKERS["RSNA"](tmp_path)
    csv = root / "train.csv"
    csv.write_text(csv.read_text().replace("density", "densty", 1))
    with pytest.raises(DataError, match=r"train\.csv.*missing required column\(s\) 'density'"):
        list(get_reader("RSNA", root).records())


def test_absent_label_file_is_a_clear_error(tmp_path):
    (tmp_path / "all-mias").mkdir()
    with pytest.raises(DataError, match="MIAS: label file not found.*Info.txt"):
        list(get_reader("MIAS", tmp_path).records())
