"""Fixture builders: tiny copies of each source dataset in its published layout (names, columns, spellings).

Each ``make_<dataset>(root)`` writes into ``root`` and returns ``root``; images are tiny (32x24) but real files
(PGM, PNG, JPEG, DICOM with the dataset's tags) so that the readers and the image-preparation code can open them.
The values are chosen so that every raw value of each label map occurs at least once.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

W, H = 32, 24


def _pixels(seed: int = 0, bits: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = (1 << bits) - 1
    return rng.integers(0, hi, size=(H, W), dtype=np.uint16 if bits > 8 else np.uint8)


def write_png(path: Path, seed: int = 0, mode: str = "L") -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(seed)).convert(mode).save(path)
    return path


def write_jpg(path: Path, seed: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(seed)).save(path, format="JPEG")
    return path


def write_pgm(path: Path, size: int = 1024, seed: int = 0) -> Path:
    """Binary P5 PGM with a GIMP comment line, as mini-MIAS ships; ``size`` goes in the header (tiny payload).

    The header says ``size`` x ``size`` (1024 for the real images, so y flips are tested against it) but only
    a tiny payload is written when ``size`` is small enough; readers only parse the header.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"P5\n# CREATOR: GIMP PNM Filter Version 1.1\n{size} {size}\n255\n".encode()
    payload = np.random.default_rng(seed).integers(0, 255, size=size * size if size <= 64 else 16, dtype=np.uint8)
    path.write_bytes(header + payload.tobytes())
    return path


def write_dicom(path: Path, seed: int = 0, bits: int = 12, photometric: str = "MONOCHROME2", frames: int = 1,
                **tags: object) -> Path:
    """A small valid DICOM (explicit VR little endian) with uncompressed pixels and the given tags."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray for Presentation
    meta.MediaStorageSOPInstanceUID = str(tags.pop("SOPInstanceUID", generate_uid(entropy_srcs=[str(path)])))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.Rows, ds.Columns = H, W
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits, bits - 1
    ds.PixelRepresentation = 0
    arr = np.stack([_pixels(seed + i, bits) for i in range(frames)]) if frames > 1 else _pixels(seed, bits)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = arr.astype(np.uint16).tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]], sep: str = ",", crlf: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=sep, lineterminator="\r\n" if crlf else "\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """Write rows (header included, legend rows allowed above it) to an .xlsx with openpyxl."""
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


# ------------------------------------------------------------------ MIAS

MIAS_PROSE = """MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY
MiniMammographic Database
LICENCE AGREEMENT
This is a legal agreement between you, the end user and the
Mammographic Image Analysis Society ("MIAS").

1st column: MIAS database reference number.
2nd column: Character of background tissue:
                F       Fatty
                G       Fatty-glandular
                D       Dense-glandular
3rd column: Class of abnormality present:
                CALC    Calcification
                NORM    Normal
*NOTE 3* In some cases calcifications are widely distributed throughout the image.
"""

MIAS_ROWS = [
    "mdb001 G CIRC B 535 425 197",
    "mdb002 G CIRC B 522 280 69",
    "mdb003 D NORM",
    "mdb004 D NORM",
    "mdb005 F CIRC B 477 133 30",
    "mdb005 F CIRC B 500 168 26",
    "mdb006 F NORM",
    "mdb059 F CIRC B",
    "mdb117 G MISC M 505 554 48",
    "mdb130 D SPIC M 220 552 28",
    "mdb115 G ARCH M 461 532 117",
    "mdb081 G ASYM B 492 473 131",
    "mdb216 D CALC M *NOTE 3*",
    "mdb219 G CALC B 546 756 29",
]


def make_mias(root: Path, *, missing: tuple[str, ...] = ("mdb006",), extra_rows: tuple[str, ...] = ()) -> Path:
    """Kaggle kmader layout: ``Info.txt`` (README prose, CRLF) and ``all-mias/mdbNNN.pgm`` (1024x1024 header)."""
    root.mkdir(parents=True, exist_ok=True)
    table = "REFNUM BG CLASS SEVERITY X Y RADIUS\n" + "\n".join([*MIAS_ROWS, *extra_rows]) + "\n"
    (root / "Info.txt").write_bytes((MIAS_PROSE + "\n" + table).replace("\n", "\r\n").encode("latin-1"))
    refs = sorted({r.split()[0] for r in [*MIAS_ROWS, *extra_rows]})
    for i, ref in enumerate(refs):
        if ref not in missing:
            write_pgm(root / "all-mias" / f"{ref}.pgm", seed=i)
    return root


# ------------------------------------------------------------------ BMCD

BMCD_HEADER = ["Folder #", "Breast (Right/Left)", "BI-RADS categories for breast density",
               "BI-RADS categories for classification "]  # the trailing space is in the published file


def make_bmcd(root: Path) -> Path:
    """Zenodo layout: two xlsx at the root, ``Dataset/{Normal,Suspicious}_cases/<n>/{CC,MLO}_{prior,recent}.dcm``.

    Suspicious/1 carries the published misspelling ``CC_recemt``; Suspicious/6 has no folder (missing images).
    """
    normal = [[1, "Right", "a", 1], [2, "Left", "B ", 2], [3, "R", "c", 0]]
    suspicious = [[1, "L", "d", "4a"], [2, "Right", "a", "4B"], [3, "Left", "b", "4c"], [4, "R", "c", 3],
                  [5, "L", "d", 5], [6, "Right", "a", 4], [7, "Left", "b", 4]]
    write_xlsx(root / "Normal_case.xlsx", {"Sheet1": [BMCD_HEADER, *normal]})
    write_xlsx(root / "Suspicious_case.xlsx", {"Sheet1": [BMCD_HEADER, *suspicious]})
    seed = 0
    for case, rows in (("Normal_cases", normal), ("Suspicious_cases", suspicious)):
        for folder, *_ in rows:
            if case == "Suspicious_cases" and folder == 6:
                continue
            d = root / "Dataset" / case / str(folder)
            stems = ["CC_prior", "CC_recemt", "MLO_prior", "MLO_recent"] if (case, folder) == (
                "Suspicious_cases", 1) else ["CC_recent", "MLO_prior"]
            for stem in stems:
                seed += 1
                write_dicom(d / f"{stem}.dcm", seed=seed, bits=16, PatientID=f"{case}{folder}")
            (d / "._CC_recent.dcm").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork: skipped
    return root


# ------------------------------------------------------------------ CBIS-DDSM

CBIS_INFO_HEADER = ["file_path", "image_path", "AccessionNumber", "BitsAllocated", "BitsStored", "BodyPartExamined",
                    "Columns", "HighBit", "Laterality", "Modality", "PatientID", "PatientOrientation",
                    "PhotometricInterpretation", "Rows", "SOPInstanceUID", "SeriesDescription",
                    "SeriesInstanceUID", "SeriesNumber", "StudyInstanceUID"]
MASS_HEADER = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
               "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
               "image file path", "cropped image file path", "ROI mask file path"]
CALC_HEADER = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
               "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
               "image file path", "cropped image file path", "ROI mask file path"]


def _uid(n: int) -> str:
    return f"1.3.6.1.4.1.9590.100.1.2.{n}"


def make_cbis_ddsm(root: Path) -> Path:
    """Kaggle JPEG copy: ``csv/dicom_info.csv``, the four case-description CSVs, ``jpeg/<SeriesUID>/1-n.jpg``.

    P_00001 LEFT CC is listed under both Mass- and Calc- (one mammogram, merged by the reader); the crop of
    Calc-Test_P_00003_RIGHT_CC_1 is absent from dicom_info.csv (a missing image). As in the published files,
    one finding has subtlety 0 (outside the 1-5 scale) and one full image has an empty ``SeriesDescription``.
    """
    info: list[list[object]] = []
    n = [100]

    def series(desc: str, key: str, pid: str, present: bool = True, shared: str | None = None,
               blank: bool = False) -> str:
        n[0] += 1
        uid = shared or _uid(n[0])
        if present:
            jpg = f"jpeg/{uid}/1-{n[0]}.jpg"
            write_jpg(root / jpg, seed=n[0])
            info.append([f"CBIS-DDSM/dicom/{uid}/1-{n[0]}.dcm", f"CBIS-DDSM/{jpg}", "", 16, 16, "BREAST", W, 15,
                         "", "MG", key, "", "MONOCHROME2", H, _uid(n[0] + 5000), "" if blank else desc, uid, 1,
                         _uid(n[0] + 9000)])
        return uid

    def row(kind: str, split: str, pid: str, side: str, view: str, abn: int, density: object, assess: object,
            path: str, subtle: object, crop_present: bool = True, mask_shares_crop: bool = False,
            blank_full: bool = False) -> list[object]:
        key = f"{kind}-{split}_{pid}_{side}_{view}"
        full = full_series.setdefault(key, series("full mammogram images", key, pid, blank=blank_full))
        crop = series("cropped images", f"{key}_{abn}", pid, present=crop_present)
        mask = series("ROI mask images", f"{key}_{abn}", pid, shared=crop if mask_shares_crop else None)
        study = _uid(7000 + abn)
        typ = "mass" if kind == "Mass" else "calcification"
        return [pid, density, side, view, abn, typ, "OVAL", "CIRCUMSCRIBED", assess, path, subtle,
                f"{key}/{study}/{full}/000000.dcm", f"{key}_{abn}/{study}/{crop}/000000.dcm",
                f"{key}_{abn}/{study}/{mask}/000001.dcm"]

    full_series: dict[str, str] = {}
    mass_train = [row("Mass", "Training", "P_00001", "LEFT", "CC", 1, 3, 4, "MALIGNANT", 4, mask_shares_crop=True),
                  row("Mass", "Training", "P_00001", "LEFT", "MLO", 1, 3, 4, "MALIGNANT", 4)]
    mass_test = [row("Mass", "Test", "P_00002", "RIGHT", "MLO", 1, 1, 3, "BENIGN", 5),
                 row("Mass", "Test", "P_00004", "LEFT", "CC", 1, 4, 1, "BENIGN", 3, blank_full=True)]
    calc_train = [row("Calc", "Training", "P_00001", "LEFT", "CC", 1, 3, 0, "BENIGN_WITHOUT_CALLBACK", 1),
                  row("Calc", "Training", "P_00001", "LEFT", "CC", 2, 3, 2, "BENIGN", 2)]
    calc_test = [row("Calc", "Test", "P_00003", "RIGHT", "CC", 1, 2, 5, "MALIGNANT", 3, crop_present=False),
                 row("Calc", "Test", "P_00005", "RIGHT", "MLO", 1, 0, 0, "BENIGN", 2),
                 row("Calc", "Test", "P_00006", "LEFT", "MLO", 1, 2, 2, "BENIGN", 0)]
    write_csv(root / "csv" / "mass_case_description_train_set.csv", MASS_HEADER, mass_train)
    write_csv(root / "csv" / "mass_case_description_test_set.csv", MASS_HEADER, mass_test)
    write_csv(root / "csv" / "calc_case_description_train_set.csv", CALC_HEADER, calc_train)
    write_csv(root / "csv" / "calc_case_description_test_set.csv", CALC_HEADER, calc_test)
    write_csv(root / "csv" / "dicom_info.csv", CBIS_INFO_HEADER, info)
    return root


# ------------------------------------------------------------------ CDD-CESM

CDD_HEADER = ["Patient_ID", "Image_name", "Side", "Type", "Age", "Breast density (ACR)", "BIRADS", "Findings",
              "View", "Tags", "Machine", "Pathology Classification/ Follow up"]


def make_cdd_cesm(root: Path, short_names: bool = False) -> Path:
    """TCIA layout: ``Radiology-manual-annotations.xlsx`` (sheet ``all``) and the low-energy JPEG folder."""
    header = list(CDD_HEADER)
    if short_names:
        header[5], header[11] = "ACR", "Pathology"
    rows = [
        [1, "P1_L_DM_CC", "L", "DM", 45, "A", 1, "", "CC", "", "", "Normal"],
        [1, "P1_L_DM_MLO", "L", "DM", 45, "B", 2, "", "MLO", "", "", "Benign"],
        [1, "P1_L_CM_CC", "L", "CESM", 45, "B", 2, "", "CC", "", "", "Benign"],
        [2, "P2_R_DM_CC", "R", "DM", 51, "C ", "4$2", "mass", "CC", "", "", "Malignant"],
        [2, "P2_R_DM_MLO", "R", "DM", 51, "D", 3, "", "MLO", "", "", "Benign"],
        [2, "P2_R_DM_MLO", "R", "DM", 51, "D", 3, "", "MLO", "", "", "Benign"],  # repeated identically, as published
        [3, "P3_R_DM_MLO2", "R", "DM", 60, "D", 5, "", "MLO", "", "", "Malignant"],
        [3, "P3_L_DM_CC", "L", "DM", 60, "C", 6, "", "CC", "", "", "Malignant"],
        [3, "P3_L_DM_MLO", "L", "DM", 60, "C", 0, "", "MLO", "", "", "Benign"],
        [4, "P4_L_DM_CC ", "L", "DM", 38, "A", 1, "", "CC", "", "", "Normal"],
        [5, "P5_R_DM_CC", "R", "DM", 40, "_", 4, "", "CC", "", "", "Benign"],  # '_' density, as published
    ]
    write_xlsx(root / "Radiology-manual-annotations.xlsx", {"all": [header, *rows]})
    img = root / "PKG - CDD-CESM" / "CDD-CESM" / "Low energy images of CDD-CESM"
    for i, r in enumerate(rows):
        name = str(r[1]).strip()
        if "DM" in name and name != "P4_L_DM_CC":
            write_jpg(img / f"{name}.jpg", seed=i)
    return root


# ------------------------------------------------------------------ DMID

DMID_HEADER = ["ID", "view", "background tissue", "abnormality", "pathology", "x", "y", "radius"]


def make_dmid(root: Path, headerless: bool = False) -> Path:
    """figshare layout: ``Metadata.xlsx`` (legend block above the table), ``DICOM Images/DICOM Images/IMGnnn.dcm``,
    ``Reports/IMGnnn.txt`` (one plain-text and one RTF report). ``headerless``: the table has no header row, as
    the published Metadata.xlsx. IMG007's view is the combined code ``CCLRT`` found in the published file."""
    legend = [["DMID metadata"], ["view", "CCLT / CCRT / MLOLT / MLORT"],
              ["background tissue", "F: fatty, G: fatty-glandular, D: dense-glandular"], [None]]
    rows = [
        ["IMG001", "MLORT", "G", "CIRC+CALC", "B", 10, 12, 5],
        ["IMG001", "MLORT", "G", "CLAC", "M", 20, 10, 4],
        ["IMG002", "CCLT", "F", "NORM", "N", None, None, None],
        ["IMG003", "CCRT", "D", "SPIC", "N", 5, 5, 3],
        ["IMG004", "MLOLT", "-", "MISC", "B", None, None, None],
        ["IMG004", "MLOLT", "D", "ARCH", "M", 8, 8, 2],
        ["IMG005", "CCLT", "G", "ASYM", "B", 16, 12, 40],
        ["IMG006", "CCRT", "F", "NORM ", "N", None, None, None],
        ["IMG007", "CCLRT", "F", "NORM", "N", None, None, None],
    ]
    write_xlsx(root / "Metadata.xlsx", {"Sheet1": [*legend, *([] if headerless else [DMID_HEADER]), *rows]})
    write_dicom(root / "DICOM Images" / "DICOM Images" / "IMG007.dcm", seed=7, bits=12)
    for i in range(1, 6):
        write_dicom(root / "DICOM Images" / "DICOM Images" / f"IMG{i:03d}.dcm", seed=i, bits=12)
    rep = root / "Reports"
    rep.mkdir(parents=True, exist_ok=True)
    (rep / "IMG001.txt").write_text("BREAST COMPOSITION: fatty-glandular.\nFINDINGS: circumscribed mass.\n")
    (rep / "IMG002.rtf").write_text(r"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 Normal study.\par No mass.\par}")
    return root


# ------------------------------------------------------------------ INbreast

INBREAST_CSV_HEADER = ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date", "File Name", "ACR",
                       "Bi-Rads"]
INBREAST_ROWS = [  # file name, hash, side, view, ACR, BI-RADS, marks (Mass, Micros, Distortion, Asymmetry)
    ("22678622", "6c613a14b80a8591", "R", "CC", 1, 1, ""),
    ("22678646", "6c613a14b80a8591", "R", "MLO", 2, "4a", "M"),
    ("20586908", "6bd5f6a2ef6a8bfe", "L", "CC", 3, "4b", "C"),
    ("20586934", "6bd5f6a2ef6a8bfe", "L", "MLO", 4, "4c", "DA"),
    ("22614074", "c4bb9e8e1d1a6c2e", "L", "CC", 2, 2, ""),
    ("22614097", "c4bb9e8e1d1a6c2e", "L", "MLO", 3, 3, ""),
    ("24055274", "e5d1b0e4ac1fe8b1", "R", "CC", 1, 5, "M"),
    ("24055355", "e5d1b0e4ac1fe8b1", "R", "MLO", 1, 6, "MC"),
    ("24055399", "e5d1b0e4ac1fe8b1", "R", "FB", 1, 2, ""),  # view code FB, as in the published table
    ("99999999", "0000000000000000", "R", "CC", 2, 2, ""),  # no DICOM: a missing image
]


def make_inbreast(root: Path, fmt: str = "xlsx", anonymised: bool = False) -> Path:
    """``INbreast.xlsx`` (full columns, ``Mass `` with its trailing space, summary rows at the end) or the
    mirror's ``;``-separated ``INbreast.csv``; DICOMs ``AllDICOMs/<File>_<hash>_MG_<side>_<CC|ML>_ANON.dcm``."""
    if fmt == "csv":
        rows = [["removed" if anonymised else f"pid{i}", 50, s, v, "201001", f, acr, br]
                for i, (f, _, s, v, acr, br, _) in enumerate(INBREAST_ROWS)]
        write_csv(root / "INbreast.csv", INBREAST_CSV_HEADER, rows, sep=";")
    else:
        header = [*INBREAST_CSV_HEADER, "Mass ", "Micros", "Distortion", "Asymmetry", "Findings Notes (in Portuguese)"]
        rows = []
        for i, (f, _, s, v, acr, br, marks) in enumerate(INBREAST_ROWS):
            rows.append([f"pid{i}", 50, s, v, 201001, float(f), acr, br, *("X" if m in marks else None
                                                                            for m in "MCDA"), "nota"])
        rows += [[None] * 5 + [None, None, None], [None] * 5 + [None, "Total", 410]]
        write_xlsx(root / "INbreast.xlsx", {"Sheet1": [header, *rows]})
    for i, (f, h, s, v, *_rest) in enumerate(INBREAST_ROWS):
        name = f"{f}.dcm" if anonymised else f"{f}_{h}_MG_{s}_{'ML' if v == 'MLO' else v}_ANON.dcm"
        if f != "99999999":
            write_dicom(root / "AllDICOMs" / name, seed=i, bits=14, ImageLaterality=s, ViewPosition=v)
    return root


# ------------------------------------------------------------------ CSAW-M

CSAW_HEADER = ["Filename", "Label", "Expert_1", "Expert_2", "Expert_3", "Expert_4", "Expert_5", "If_cancer",
               "If_interval_cancer", "If_large_invasive_cancer", "If_composite", "Dicom_image_laterality",
               "Dicom_window_center", "Dicom_window_width", "Dicom_photometric_interpretation",
               "Libra_percent_density", "Libra_dense_area", "Libra_breast_area"]


def make_csaw_m(root: Path) -> Path:
    """figshare layout: ``labels/CSAW-M_{train,test}.csv`` (``;``), ``images/preprocessed/{train,test}/*.png``;
    ``test_2.png`` is missing."""
    def row(name: str, label: int, side: str) -> list[object]:
        return [name, label, label, label, label, label, label, 0, 0, 0, 0, side, 2047, 4095, "MONOCHROME2",
                12.5, 1000, 8000]

    train = [row(f"train_{i}.png", i, "L" if i % 2 else "R") for i in range(1, 9)]
    test = [row("test_1.png", 3, "R"), row("test_2.png", 5, "L")]
    write_csv(root / "labels" / "CSAW-M_train.csv", CSAW_HEADER, train, sep=";")
    write_csv(root / "labels" / "CSAW-M_test.csv", CSAW_HEADER, test, sep=";")
    for i in range(1, 9):
        write_png(root / "images" / "preprocessed" / "train" / f"train_{i}.png", seed=i)
    write_png(root / "images" / "preprocessed" / "test" / "test_1.png", seed=20)
    return root


# ------------------------------------------------------------------ KAU-BCMD


def make_kau_bcmd(root: Path) -> Path:
    """Kaggle layout ``archive/Birad{1,2,3,4,5}/<year>_<BCid>_<view>_<side>.jpg``; one file listed in Birad1 and
    Birad5 (a duplicate), one name with a space, one nested subfolder, one ``._`` resource fork."""
    files = {
        "Birad1": ["2013_BC011502_MLO_L.jpg", "2013_BC011502_CC_L.jpg", "2018_BC005421_CC_R.jpg"],
        "Birad2": ["2014_BC000200_CC_R.jpg"],
        "Birad3": ["2015_BC 0123_CC_R.jpg", "sub/2015_BC000124_MLO_R.jpg"],
        "Birad4": ["2016_BC000300_MLO_L.jpg"],
        "Birad5": ["2018_BC005421_CC_R.jpg", "2018_BC005421_MLO_R.jpg"],
    }
    for i, (folder, names) in enumerate(files.items()):
        for j, name in enumerate(names):
            write_jpg(root / "archive" / folder / name, seed=10 * i + j)
    (root / "archive" / "Birad1" / "._2013_BC011502_MLO_L.jpg").write_bytes(b"\x00\x05")
    return root


# ------------------------------------------------------------------ VinDr-Mammo

VINDR_HEADER = ["image_id", "study_id", "series_id", "laterality", "view_position", "height", "width",
                "breast_birads", "breast_density", "finding_categories", "finding_birads", "xmin", "ymin", "xmax",
                "ymax", "split"]


def make_vindr(root: Path) -> Path:
    """PhysioNet layout: ``finding_annotations.csv`` and ``images/<study_id>/<image_id>.dicom``."""
    cats = ["Mass", "Suspicious Calcification", "Asymmetry", "Focal Asymmetry", "Global Asymmetry",
            "Architectural Distortion", "Skin Thickening", "Skin Retraction", "Nipple Retraction",
            "Suspicious Lymph Node"]
    rows: list[list[object]] = []
    studies = ["4e3a578fd0b7e4b5ef2c8c2a7b0f3b3d", "a1b2c3d4e5f60718293a4b5c6d7e8f90"]
    images = [(studies[0], "img0a", "L", "CC", "BI-RADS 1", "DENSITY A"),
              (studies[0], "img0b", "R", "MLO", "BI-RADS 4", "DENSITY B"),
              (studies[1], "img1a", "L", "MLO", "BI-RADS 2", "DENSITY C"),
              (studies[1], "img1b", "R", "CC", "BI-RADS 5", "DENSITY D"),
              (studies[1], "img1c", "R", "MLO", "BI-RADS 2", "DENSITY D"),  # img1c: no DICOM (missing)
              (studies[0], "img0c", "L", "MLO", "BI-RADS 3", "DENSITY C")]
    for sid, iid, lat, view, br, dens in images:
        if iid in ("img0a", "img1c", "img0c"):
            rows.append([iid, sid, "s", lat, view, H, W, br, dens, "['No Finding']", "", "", "", "", "",
                         "training"])
    for k, c in enumerate(cats):
        sid, iid, lat, view, br, dens = images[1 + k % 3]
        rows.append([iid, sid, "s", lat, view, H, W, br, dens, repr([c]), "BI-RADS 4", 1.5 + k, 2.2, 10.7, 12.0,
                     "training" if sid == studies[0] else "test"])
    rows.append([images[1][1], studies[0], "s", "R", "MLO", H, W, "BI-RADS 4", "DENSITY B",
                 "['Mass', 'Suspicious Calcification']", "BI-RADS 4", 3, 3, 9, 9, "training"])
    write_csv(root / "finding_annotations.csv", VINDR_HEADER, rows)
    for i, (sid, iid, *_r) in enumerate(images):
        if iid != "img1c":
            write_dicom(root / "images" / sid / f"{iid}.dicom", seed=i, bits=12, photometric="MONOCHROME1")
    return root


# ------------------------------------------------------------------ RSNA

RSNA_HEADER = ["site_id", "patient_id", "image_id", "laterality", "view", "age", "cancer", "biopsy", "invasive",
               "BIRADS", "implant", "density", "machine_id", "difficult_negative_case"]


def make_rsna(root: Path) -> Path:
    """Kaggle competition layout: ``train.csv`` and ``train_images/<patient_id>/<image_id>.dcm``; site 2 has
    empty BIRADS and density; one AT view; one image present only as a PNG copy; one image missing."""
    rows = [
        [1, 10006, 462822612, "L", "CC", 61, 0, 0, 0, 1, 0, "A", 29, "False"],
        [1, 10006, 1459541791, "L", "MLO", 61, 0, 0, 0, 0, 0, "B", 29, "False"],
        [1, 10006, 1864590858, "R", "MLO", 61, 0, 0, 0, 2, 0, "C", 29, "False"],
        [1, 10006, 1874946579, "R", "CC", 61, 1, 1, 1, 0, 0, "D", 29, "False"],
        [2, 10011, 220375232, "L", "CC", 55, 0, 0, 0, "", 0, "", 21, "True"],
        [2, 10011, 270344397, "L", "AT", 55, 0, 0, 0, "", 0, "", 21, "False"],
        [2, 10011, 541722628, "R", "MLO", 55, 0, 0, 0, "", 0, "", 21, "False"],
        [2, 10011, 999999999, "R", "CC", 55, 0, 0, 0, "", 0, "", 21, "False"],
    ]
    write_csv(root / "train.csv", RSNA_HEADER, rows)
    for i, r in enumerate(rows):
        pid, iid = r[1], r[2]
        if iid == 999999999:
            continue
        if iid == 541722628:
            write_png(root / "train_images" / str(pid) / f"{iid}.png", seed=i)
        else:
            write_dicom(root / "train_images" / str(pid) / f"{iid}.dcm", seed=i, photometric="MONOCHROME1",
                        PatientID=str(pid), ImageLaterality=r[3])
    return root


# ------------------------------------------------------------------ EMBED

EMBED_META_HEADER = ["empi_anon", "acc_anon", "anon_dicom_path", "FinalImageType", "ImageLateralityFinal",
                     "ViewPosition", "spot_mag", "SOPInstanceUID"]
EMBED_CLIN_HEADER = ["empi_anon", "acc_anon", "side", "asses", "tissueden", "path_severity", "desc"]
EMBED_BIG_ACC = "9007199254740993"  # > 2^53: a float cast would change it


def make_embed(root: Path) -> Path:
    """AWS layout: ``tables/EMBED_OpenData_{metadata,clinical}.csv`` and ``images/cohort_1/<empi>/<study>/<sop>.dcm``
    (``anon_dicom_path`` keeps the ``/mnt/NAS2/mammo/anon_dicom`` prefix)."""
    exams = [  # empi, acc, [asses per finding], tissueden
        ("10000001", EMBED_BIG_ACC, ["N"], "1"),
        ("10000001", "6001", ["B", "A"], "2"),
        ("10000002", "6002", ["P"], "3"),
        ("10000003", "6003", ["S", "K"], "4"),
        ("10000004", "6004", ["M"], "5"),
        ("10000005", "6005", ["K"], "2"),
    ]
    meta, clin = [], []
    for empi, acc, asses, dens in exams:
        for j, (lat, view) in enumerate((("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))):
            rel = f"cohort_1/{empi}/{acc}/1.2.840.{acc}.{j}.dcm"
            meta.append([empi, acc, f"/mnt/NAS2/mammo/anon_dicom/{rel}", "2D", lat, view, "", f"1.2.840.{acc}.{j}"])
            if not (acc == "6002" and j == 3):
                write_dicom(root / "images" / rel, seed=j, SOPInstanceUID=f"1.2.840.{acc}.{j}")
        for a in asses:
            clin.append([empi, acc, "B", a, dens, "", ""])
    meta.append(["10000002", "6002", "/mnt/NAS2/mammo/anon_dicom/cohort_1/10000002/6002/spot.dcm", "2D", "L", "CC",
                 "1", "1.2.840.spot"])
    meta.append(["10000009", "6009", "/mnt/NAS2/mammo/anon_dicom/cohort_1/10000009/6009/x.dcm", "2D", "L", "CC", "",
                 "1.2.840.x"])  # an exam with no clinical row
    write_dicom(root / "images" / "cohort_1/10000009/6009/x.dcm")
    write_csv(root / "tables" / "EMBED_OpenData_metadata.csv", EMBED_META_HEADER, meta)
    write_csv(root / "tables" / "EMBED_OpenData_clinical.csv", EMBED_CLIN_HEADER, clin)
    return root


# ------------------------------------------------------------------ DBT

DBT_MANIFEST = "manifest-1617905855234"
DBT_BOX_HEADER = ["PatientID", "StudyUID", "View", "Subject", "Slice", "X", "Y", "Width", "Height", "Class", "AD",
                  "VolumeSlices"]
DBT_PATH_HEADER = ["PatientID", "StudyUID", "View", "descriptive_path", "classic_path"]


def make_dbt(root: Path) -> Path:
    """TCIA test-phase layout under ``manifest-1617905855234/``: box and file-path CSVs, 3-frame DICOM volumes."""
    m = root / DBT_MANIFEST
    views = [("DBT-P00013", "DBT-S04378", "lcc"), ("DBT-P00013", "DBT-S04378", "rmlo"),
             ("DBT-P00024", "DBT-S00163", "rcc")]
    paths = []
    for i, (pid, sid, view) in enumerate(views):
        desc = f"Breast-Cancer-Screening-DBT/{pid}/01-01-2000-{sid}-MAMMO SCREENING DIGITAL BILATERAL-{i}/" \
               f"{18377 + i}.000000-NA-{view}/1-1.dcm"
        paths.append([pid, f"1.2.826.0.1.3680043.8.498.{i}", view, desc, f"Breast-Cancer-Screening-DBT/{pid}/x/1-1.dcm"])
        if view != "rcc":  # rcc volume missing
            write_dicom(m / desc, seed=i, bits=10, frames=3, PatientID=pid)
    boxes = [["DBT-P00013", paths[0][1], "lcc", 0, 1, 4, 5, 10, 8, "cancer", 0, 3],
             ["DBT-P00013", paths[1][1], "rmlo", 0, 2, 1, 1, 6, 6, "benign", 0, 3],
             ["DBT-P00013", paths[1][1], "rmlo", 0, 0, 10, 10, 5, 5, "benign", 1, 3],
             ["DBT-P00024", paths[2][1], "rcc", 0, 1, 2, 2, 5, 5, "cancer", 0, 3]]
    write_csv(m / "BCS-DBT-boxes-test-v2-PHASE-2-Jan-2024.csv", DBT_BOX_HEADER, boxes)
    write_csv(m / "BCS-DBT-file-paths-test-v2.csv", DBT_PATH_HEADER, paths)
    return root


# ------------------------------------------------------------------ LAMIS-DMDB


def make_lamis(root: Path, sample: bool = True) -> Path:
    """Full-release layout ``LAMISDMDB VF/<Bening|maling|Normal>/<BIRADS>/[<lesion>/]<ACRn>/dataMG-PROC_....dcm``
    and (``sample``) the public PNG sample ``LAMIS-DMDB/{Benign,Malign,Nomal}/`` with ``Annotated Images/``."""
    vf = root / "LAMISDMDB VF"
    full = [
        ("Bening/BIRADS II/Mass/ACR1", "P001_1_L_CC_12_March_2019"),
        ("Bening/BIRADS III/ACR2", "P001_2_L_MLO_12_March_2019"),
        ("maling/BIRADS IV/Mass/ACR3", "P002_1_R_LMO_03_June_2020"),
        ("maling/BIRADS V/ACR4", "P002_2_R_ML_03_June_2020"),
        ("Normal/BARADS I/ACR2", "P003_1_R_CC_07_May_2018"),
        ("Normal/BIRADS I/ACR3", "P004_1_L_CC_07_May_2018"),
    ]
    for i, (folder, stem) in enumerate(full):
        write_dicom(vf / folder / f"dataMG-PROC_{stem}.dcm", seed=i, bits=12)
    if sample:
        s = root / "LAMIS-DMDB"
        write_png(s / "Benign" / "dataMG-PROC_P010_1_L_CC_01_May_2020.png", seed=1, mode="RGB")
        write_png(s / "Malign" / "dataMG-PROC_P011_1_R_MLO_01_May_2020.png", seed=2, mode="RGB")
        write_png(s / "Nomal" / "dataMG-PROC_P012_1_L_MLO_01_May_2020.png", seed=3, mode="RGB")
        write_png(s / "Annotated Images" / "Benign" / "dataMG-PROC_P010_1_L_CC_01_May_2020.png", seed=4, mode="RGB")
    return root


# ------------------------------------------------------------------ Mammogram Mastery


def make_mm(root: Path) -> Path:
    """Mendeley layout ``Breast Cancer Dataset/{Original,Augmented} Dataset/{Cancer,Non-Cancer}/``."""
    base = root / "Breast Cancer Dataset"
    for i, name in enumerate(["IMG_0001.jpg", "IMG_0002.jpg"]):
        write_jpg(base / "Original Dataset" / "Cancer" / name, seed=i)
    for i, name in enumerate(["IMG_0101.jpg", "IMG_0102.jpg", "Thumbs_preview.jpg"]):
        write_jpg(base / "Original Dataset" / "Non-Cancer" / name, seed=10 + i)
    write_jpg(base / "Augmented Dataset" / "Cancer" / "IMG_0001_rot90.jpg", seed=99)
    return root


# ------------------------------------------------------------------ NLBS

NLBS_HEADER = ["File Path", "Image Laterality", "View Position", "Cancer", "False Positive", "Exam ID"]


def make_nlbs(root: Path) -> Path:
    """FRDR layout: ``NLBS Data/NLBSP-metadata.csv`` (Windows back-slash paths) and
    ``NLBS Data/<category>/<exam>/<left|right>/<CC|MLO>/IM-....dcm``; one listed file is missing."""
    base = root / "NLBS Data"
    rows = []
    spec = [("normal", "E0001", 0, 0), ("False Positive", "E0002", 0, 1), ("abnormal", "E0003", 1, 0)]
    k = 0
    for cat, exam, cancer, fp in spec:
        for side in ("left", "right"):
            for view in ("CC", "MLO"):
                k += 1
                rel = f"{cat}\\{exam}\\{side}\\{view}\\IM-0001-{k:04d}-0001.dcm"
                rows.append([rel, side[0].upper(), view, cancer, fp, exam])
                if not (exam == "E0003" and side == "right" and view == "MLO"):
                    write_dicom(base / rel.replace("\\", "/"), seed=k, ImageLaterality=side[0].upper())
    write_csv(base / "NLBSP-metadata.csv", NLBS_HEADER, rows)
    return root


MAKERS = {
    "BMCD": make_bmcd, "CBIS-DDSM": make_cbis_ddsm, "CDD-CESM": make_cdd_cesm, "DMID": make_dmid,
    "INbreast": make_inbreast, "MIAS": make_mias, "CSAW-M": make_csaw_m, "KAU-BCMD": make_kau_bcmd,
    "VinDr-Mammo": make_vindr, "RSNA": make_rsna, "EMBED": make_embed, "DBT": make_dbt, "LAMIS-DMDB": make_lamis,
    "MM": make_mm, "NLBS": make_nlbs,
}
