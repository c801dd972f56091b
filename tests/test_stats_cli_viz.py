"""The ``stats`` CLI on a scored CSV, and the reliability figures."""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mammovqa.errors import DataError
from mammovqa.stats.cli import read_scored, register
from mammovqa.stats.random_guess import test_against_random
from mammovqa.stats.simulate import simulate_scored
from mammovqa.stats.weighted import accuracy_table, label_balance
from mammovqa.viz import save_figure
from mammovqa.viz.reliability import absolute_vs_weighted, balance_vs_gap, breast_vs_finding, forest_vs_random


def _scored() -> pd.DataFrame:
    parts = []
    rng = np.random.default_rng(0)
    for i, topic in enumerate(["Pathology (breast)", "Pathology (finding)", "Laterality"]):
        zs = simulate_scored(n_clusters=80, class_probs=(0.6, 0.3, 0.1), class_accuracy=(0.4,) * 3, model="zs",
                             topic=topic, seed=i)
        ft = zs.assign(model="ft", correct=(rng.random(len(zs)) < 0.8).astype(int))  # same items, better
        parts += [zs, ft]
    df = pd.concat(parts, ignore_index=True)
    df["id"] = df["topic"].str[:3] + df["id"]
    df.loc[df.index[:5], "pred"] = ""  # no choice: must survive a CSV round trip as "", not NaN
    df["split"] = "test"
    return df


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_read_scored_keeps_strings(tmp_path):
    df = _scored()
    df.loc[0, "id"] = "007"
    df.to_csv(tmp_path / "s.csv", index=False)
    back = read_scored(tmp_path / "s.csv")
    assert back.loc[0, "id"] == "007" and back.loc[0, "pred"] == "" and back["correct"].dtype.kind == "i"
    with pytest.raises(DataError, match="not found"):
        read_scored(tmp_path / "nope.csv")


def test_cli_random_compare_power(tmp_path, capsys):
    _scored().to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "rand.csv"
    assert _run(["stats", "random", "--scored", str(tmp_path / "s.csv"), "--out", str(out), "--n-boot", "300",
                 "--split", "test", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    res = pd.read_csv(out)
    assert len(res) == 6 and "verdict" in printed and (tmp_path / "rand.md").exists()
    assert set(res.loc[res["model"] == "ft", "verdict"]) == {"above no-information"}
    assert set(res["cluster_key"]) == {"patient_key"} and (res["n_clusters"] < res["n"]).all()
    assert _run(["stats", "compare", "--scored", str(tmp_path / "s.csv"), "--model-a", "ft", "--model-b", "zs",
                 "--n-boot", "200", "--out", str(tmp_path / "c.csv")]) == 0
    cmp = pd.read_csv(tmp_path / "c.csv")
    assert len(cmp) == 3 and (cmp["weighted_diff"] > 0.1).all() and (cmp["p_mcnemar_holm"] < 0.01).all()
    assert _run(["stats", "compare", "--scored", str(tmp_path / "s.csv"), "--model-a", "ft", "--zero-shot", "zs",
                 "--n-boot", "200"]) == 0
    assert _run(["stats", "power", "--scored", str(tmp_path / "s.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert set(pd.read_csv(tmp_path / "p.csv").columns) >= {"topic", "n", "random_guess", "mde"}
    with pytest.raises(DataError, match="--matcher"):
        _run(["stats", "power", "--scored", str(tmp_path / "s.csv"), "--matcher", "official"])


def test_cli_compare_reports_item_mismatch(tmp_path):
    df = _scored()
    df = df[~((df["model"] == "zs") & (df.index % 50 == 0))]
    df.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(DataError, match="item sets differ"):
        _run(["stats", "compare", "--scored", str(tmp_path / "s.csv"), "--model-a", "ft", "--model-b", "zs"])


def test_reliability_figures(tmp_path):
    df = _scored()
    acc = accuracy_table(df)
    figs = {
        "abs_vs_w": absolute_vs_weighted(acc),
        "balance": balance_vs_gap(label_balance(df), acc),
        "breast_finding": breast_vs_finding(acc, topics=("Pathology",)),
        "forest": forest_vs_random(test_against_random(pd.concat([df, simulate_scored(
            n_clusters=2, topic="Tiny", model="zs")]), n_boot=200).assign(random_guess=lambda d: d["no_information"])),
    }
    for name, fig in figs.items():
        assert isinstance(fig, plt.Figure) and fig.axes
        png, pdf = save_figure(fig, tmp_path / name)
        assert png.stat().st_size > 1000 and pdf.exists()
    # Fig. 3c shows exactly the table's numbers (first model in table order)
    x, y = figs["abs_vs_w"].axes[0].lines[0].get_data()
    first = acc[acc["model"] == acc["model"].iloc[0]]
    assert np.allclose(x, 100 * first["accuracy"]) and np.allclose(y, 100 * first["weighted_accuracy"])
