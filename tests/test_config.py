"""Manifest validation: the committed files load; broken ones fail naming file, key and value."""

from pathlib import Path

import pytest
import yaml

from mammovqa.config import (
    TOPIC_KEYS,
    get_profile,
    load_datasets,
    load_topics,
    load_yaml,
    parse_datasets,
    parse_topics,
)
from mammovqa.errors import ConfigError
from mammovqa.paths import MANIFEST_DIR


def test_committed_manifests_load():
    topics = load_topics()
    assert tuple(topics.topics) == TOPIC_KEYS
    assert topics["Abnormality"].kind == "multiple"
    assert topics["ACR"].options == ("Level A", "Level B", "Level C", "Level D")
    assert topics["Bi-Rads"].wordings["exam"][0]
    datasets = load_datasets()
    internal = [d for d in datasets.real.values() if d.role == "internal"]
    external = [d for d in datasets.real.values() if d.role == "external"]
    assert len(internal) == 11 and len(external) == 4
    assert sum(len(d.parts) for d in internal) == 15  # the paper's 15 internal sub-datasets
    assert datasets.get("cbis-ddsm").parts["finding"].name == "CBIS-DDSM-finding"
    assert {d.role for d in datasets.phantom.values()} == {"internal", "external"}


def _topics_raw():
    return yaml.safe_load((MANIFEST_DIR / "topics.yaml").read_text())


def _datasets_raw():
    return yaml.safe_load((MANIFEST_DIR / "datasets.yaml").read_text())


def test_unknown_topic_in_datasets_names_file_key_value(tmp_path):
    raw = _datasets_raw()
    raw["datasets"]["BMCD"]["parts"]["breast"]["topics"].append("Colour")
    f = tmp_path / "datasets.yaml"
    with pytest.raises(ConfigError) as exc:
        parse_datasets(raw, f, load_topics())
    msg = str(exc.value)
    assert str(f) in msg and "datasets.BMCD.parts.breast.topics" in msg and "'Colour'" in msg


def test_unknown_option_and_topic_in_topics(tmp_path):
    raw = _topics_raw()
    raw["topics"]["Shape"] = raw["topics"].pop("View")
    with pytest.raises(ConfigError, match=r"topics\.Shape.*unknown topic 'Shape'"):
        parse_topics(raw, tmp_path / "t.yaml")
    topics = load_topics()
    with pytest.raises(ConfigError, match=r"unknown option 'Up'"):
        topics.check_option("Laterality", "Up")


def test_wrong_number_of_wordings_and_bad_kind(tmp_path):
    raw = _topics_raw()
    raw["topics"]["View"]["wordings"]["image"] = ["only one"]
    with pytest.raises(ConfigError, match=r"topics\.View\.wordings\.image"):
        parse_topics(raw, tmp_path / "t.yaml")
    raw = _topics_raw()
    raw["topics"]["View"]["kind"] = "several"
    with pytest.raises(ConfigError, match=r"topics\.View\.kind.*'several'"):
        parse_topics(raw, tmp_path / "t.yaml")


def test_malformed_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("topics:\n  View: [a, b\n  x: 1\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml(f)
    assert str(f) in str(exc.value) and "line" in str(exc.value)


def test_missing_key_and_unknown_dataset(tmp_path):
    raw = _datasets_raw()
    del raw["datasets"]["MIAS"]["role"]
    with pytest.raises(ConfigError, match=r"datasets\.MIAS\.role: missing required key"):
        parse_datasets(raw, tmp_path / "d.yaml", load_topics())
    with pytest.raises(ConfigError, match="unknown dataset 'NoSuch'"):
        load_datasets().get("NoSuch")


def test_unknown_profile_lists_profiles():
    with pytest.raises(ConfigError) as exc:
        get_profile("huge")
    assert "smoke" in str(exc.value) and "default" in str(exc.value) and "full" in str(exc.value)


def test_exam_level_topic_check(tmp_path):
    raw = _datasets_raw()
    raw["datasets"]["EMBED"]["parts"]["exam"]["topics"].append("View")
    with pytest.raises(ConfigError, match="not asked at exam level"):
        parse_datasets(raw, Path(tmp_path / "d.yaml"), load_topics())


@pytest.mark.parametrize("edit, key, text", [
    (lambda r: r["profiles"]["smoke"].update(epochs=3), "profiles.smoke.epochs", "unknown key 'epochs'"),
    (lambda r: r["profiles"]["smoke"].update(image_size="big"), "profiles.smoke.image_size", "'big'"),
    (lambda r: r["profiles"]["smoke"].pop("scale"), "profiles.smoke.scale", "missing required key"),
])
def test_profile_errors_name_file_key_and_value(tmp_path, edit, key, text):
    from mammovqa.config import parse_profiles

    raw = yaml.safe_load((MANIFEST_DIR / "profiles.yaml").read_text())
    edit(raw)
    f = tmp_path / "profiles.yaml"
    with pytest.raises(ConfigError) as exc:
        parse_profiles(raw, f)
    assert exc.value.key == key and str(f) in str(exc.value) and text in str(exc.value)


def test_dataset_schema_rejects_unknown_keys_and_wrong_types(tmp_path):
    f = tmp_path / "d.yaml"
    raw = _datasets_raw()
    raw["datasets"]["MIAS"]["licence"] = "open"
    with pytest.raises(ConfigError, match=r"datasets\.MIAS\.licence: unknown key 'licence' \(allowed: .*terms_source"):
        parse_datasets(raw, f, load_topics())
    raw = _datasets_raw()
    raw["datasets"]["MIAS"]["redistributable"] = "yes"
    with pytest.raises(ConfigError, match=r"datasets\.MIAS\.redistributable: .*boolean, got 'yes'"):
        parse_datasets(raw, f, load_topics())
    raw = _datasets_raw()
    del raw["datasets"]["MIAS"]["terms_source"]
    with pytest.raises(ConfigError, match=r"datasets\.MIAS\.terms_source: missing required key"):
        parse_datasets(raw, f, load_topics())
    raw = _datasets_raw()
    raw["datasets"]["MIAS"]["parts"]["breast"]["size"] = "322"
    with pytest.raises(ConfigError, match=r"datasets\.MIAS\.parts\.breast\.size: .*integer, got '322'"):
        parse_datasets(raw, f, load_topics())


def test_local_config_schema(tmp_path):
    from mammovqa.config import load_local

    assert load_local(tmp_path / "absent.yaml").datasets == {}
    f = tmp_path / "local.yaml"
    f.write_text("datasets:\n  MIAS: /data/mias\n  DMID:\n")
    assert load_local(f).datasets == {"MIAS": "/data/mias", "DMID": None}  # a blank folder: absent
    f.write_text("datasets: /data\n")
    with pytest.raises(ConfigError, match=r"local\.yaml: datasets: .*dictionary, got '/data'"):
        load_local(f)


def test_local_dataset_roots_canonical_names_relative_folders_and_errors(tmp_path):
    from mammovqa.config import local_dataset_roots
    from mammovqa.paths import ROOT

    f = tmp_path / "local.yaml"
    assert local_dataset_roots(tmp_path / "absent.yaml") == {}
    f.write_text("datasets:\n  mias: /data/mias\n  cbis-ddsm: rel/cbis\n  DMID:\n  RSNA: ''\nmodels: {x: /w}\n")
    # datasets.yaml spelling, repository-relative folders, blank folders absent
    assert local_dataset_roots(f) == {"MIAS": Path("/data/mias"), "CBIS-DDSM": ROOT / "rel/cbis"}
    assert set(local_dataset_roots(MANIFEST_DIR / "local.example.yaml")) == set(load_datasets().real)


@pytest.mark.parametrize(("text", "key", "what"), [
    ("datasets:\n  Foo: /x\n", "datasets.Foo", "unknown dataset 'Foo' (known: BMCD, "),
    ("datasets:\n  MIAS: 5\n", "datasets.MIAS", "string, got 5"),
    ("datasets: [MIAS]\n", "datasets", "dictionary, got ['MIAS']"),
    ("dataset: {MIAS: /x}\n", "dataset", "unknown key 'dataset' (allowed: datasets, models)"),
    ("- MIAS\n", "<root>", "dictionary or instance of LocalConfig, got ['MIAS']"),
])
def test_local_dataset_roots_errors_name_file_key_and_value(tmp_path, text, key, what):
    from mammovqa.config import local_dataset_roots

    f = tmp_path / "local.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        local_dataset_roots(f)
    assert info.value.file == str(f) and info.value.key == key and what in str(info.value)


def test_every_stage_budget_lives_in_configs_profiles_yaml(tmp_path):
    """Issue 15: a profile's budget was spread over report/stage.PROFILE_CAPS, closed_set.yaml and the open
    stages' file; now one file (configs/profiles.yaml) holds a section per stage, validated with file and key."""
    from mammovqa.budgets import closed_set_epochs, open_budget, report_budget, stage_budgets
    from mammovqa.report.stage import caps_for

    budgets = stage_budgets()
    assert set(budgets.report) == set(budgets.closed_set) == set(budgets.open_ended) == {"smoke", "default", "full"}
    assert caps_for("default").lesion_oversample == report_budget("default").lesion_oversample == 2
    assert caps_for("default").epochs == 2 and isinstance(caps_for("default").epochs, int)  # same bytes as before
    assert closed_set_epochs("default", 1) == 4 and closed_set_epochs("my-profile", 1) == 1
    assert open_budget("smoke").max_eval_items is not None
    bad = tmp_path / "profiles.yaml"
    bad.write_text("report:\n  default: {train_max: 1, epochs: 1, val_max: 1, test_max: 1, max_new_tokens: x}\n")
    with pytest.raises(ConfigError, match="max_new_tokens"):
        report_budget("default", bad)
