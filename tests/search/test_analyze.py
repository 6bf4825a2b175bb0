"""The search analysis against scipy on a synthetic study table, and on the recorded quick search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import create_trial
from scipy import stats

from mumap.search.analyze import analyze, experiment_yaml, load_optuna_study, main

SPACE = {"loss": CategoricalDistribution(["l1", "l2_gdl"]),
         "discriminator": CategoricalDistribution(["classifier", "patchgan"]),
         "training.lambda_adv": CategoricalDistribution([1, 100]),
         "training.lambda_dist": CategoricalDistribution([1, 100])}


def _synthetic_study(path) -> tuple[optuna.Study, dict]:
    """48 trials: 20 vary the loss (NMAE normal, lower with l1), 20 the discriminator (NMAE skewed,
    exponential, lower with the classifier), 8 vary both but did not converge (NMAE 0.3, λadv > λdist),
    which the statistics must leave out."""
    rng = np.random.default_rng(1)
    study = optuna.create_study(study_name="synthetic", storage=f"sqlite:///{path}")
    groups: dict = {"loss": {"l1": [], "l2_gdl": []}, "discriminator": {"classifier": [], "patchgan": []}}
    for i in range(48):
        converged = i < 40
        lambdas = {"training.lambda_adv": 1 if converged else 100, "training.lambda_dist": 100 if converged else 1}
        loss, discriminator = ("l1", "l2_gdl")[i % 2], ("classifier", "patchgan")[i % 2]
        if i < 20:
            params, value = {"loss": loss}, (0.024 if loss == "l1" else 0.027) + rng.normal(0, 0.002)
            groups["loss"][loss].append(value)
        elif converged:
            params = {"discriminator": discriminator}
            value = 0.022 + rng.exponential(0.001 if discriminator == "classifier" else 0.006)
            groups["discriminator"][discriminator].append(value)
        else:
            params, value = {"loss": loss, "discriminator": discriminator}, 0.3
        params |= lambdas
        study.add_trial(create_trial(params=params, distributions={k: SPACE[k] for k in params}, value=value,
                                     user_attrs={"converged": converged,
                                                 "convergence": "converged" if converged else "near-constant"}))
    return study, groups


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_statistics_are_scipys_on_the_converged_trials(tmp_path):
    study, groups = _synthetic_study(tmp_path / "optuna.db")
    summary = analyze(tmp_path / "optuna.db", tmp_path / "report")
    assert summary["complete"] == 48 and summary["converged"] == 40
    best = min((t for t in study.trials if t.user_attrs["converged"]), key=lambda t: t.value)
    assert summary["best_trial"] == best.number and summary["best_converged"]

    choices = {(r["parameter"], r["choice"]): r for r in _rows(tmp_path / "report" / "choices.csv")}
    for parameter, by_choice in groups.items():
        for choice, values in by_choice.items():
            row = choices[parameter, choice]
            assert int(row["n"]) == len(values) == 10
            assert float(row["mean"]) == pytest.approx(np.mean(values))
            assert float(row["std"]) == pytest.approx(np.std(values, ddof=1))
            assert float(row["shapiro_p"]) == pytest.approx(stats.shapiro(values).pvalue)
    # non-convergence is counted per choice: all 8 had λadv = 100 > λdist = 1
    assert (choices["training.lambda_adv", "100"]["not_converged"], choices["training.lambda_adv", "100"]["total"]) \
        == ("8", "8")
    assert choices["λadv vs λdist", "adv > dist"]["not_converged"] == "8"
    assert choices["λadv vs λdist", "adv < dist"]["not_converged"] == "0"

    tests = {r["parameter"]: r for r in _rows(tmp_path / "report" / "tests.csv")}
    l1, l2 = groups["loss"]["l1"], groups["loss"]["l2_gdl"]
    normal = stats.shapiro(l1).pvalue > 0.05 and stats.shapiro(l2).pvalue > 0.05
    expected = stats.ttest_ind(l1, l2, equal_var=False) if normal else stats.mannwhitneyu(l1, l2)
    assert tests["loss"]["test"] == ("welch-t" if normal else "mann-whitney-u")
    assert float(tests["loss"]["p"]) == pytest.approx(expected.pvalue) and float(tests["loss"]["p"]) < 1e-3
    classifier, patchgan = groups["discriminator"]["classifier"], groups["discriminator"]["patchgan"]
    assert stats.shapiro(patchgan).pvalue < 0.05  # the skewed group is caught ...
    assert tests["discriminator"]["test"] == "mann-whitney-u"  # ... and compared without assuming normality
    u = stats.mannwhitneyu(classifier, patchgan, alternative="two-sided")
    assert float(tests["discriminator"]["p"]) == pytest.approx(u.pvalue)
    assert float(tests["discriminator"]["statistic"]) == pytest.approx(u.statistic)

    report = (tmp_path / "report" / "summary.md").read_text()
    assert "40 converged" in report and "fig3_loss.png" in report
    assert (tmp_path / "report" / "fig3_discriminator.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["best_trial"] == best.number


def test_analyze_cli_names_a_missing_database_and_an_ambiguous_storage(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no Optuna database"):
        main([str(tmp_path / "nothing.db")])
    url = f"sqlite:///{tmp_path / 'two.db'}"
    for name in ("a", "b"):
        optuna.create_study(study_name=name, storage=url)
    with pytest.raises(ValueError, match="holds 2 studies"):
        main([url, "--out", str(tmp_path / "r")])


def test_load_optuna_study_by_name_or_the_only_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="only", storage=url)
    assert load_optuna_study(tmp_path).study_name == "only"  # a sweep folder holding optuna.db
    optuna.create_study(study_name="second", storage=url)
    assert load_optuna_study(url, "second").study_name == "second"
    with pytest.raises(ValueError, match="has no study 'third'"):
        load_optuna_study(url, "third")


def test_the_recorded_quick_search_is_what_its_study_says(tmp_path):
    """experiments/quick-random: the committed report is the analysis of the committed study."""
    record = Path(__file__).resolve().parents[2] / "experiments" / "quick-random"
    main([str(record / "optuna.db"), "--out", str(tmp_path)])
    for table in ("trials.csv", "choices.csv", "tests.csv"):
        assert (tmp_path / table).read_text() == (record / table).read_text(), table
    summary = json.loads((record / "summary.json").read_text())
    assert summary.pop("exported") == "conf/experiment/quick-best.yaml"
    assert summary == json.loads((tmp_path / "summary.json").read_text())


def test_the_exported_experiment_names_the_trials_overrides_and_cohort():
    trial = create_trial(params={"loss": "l1"}, distributions={"loss": SPACE["loss"]}, value=0.04, user_attrs={
        "overrides": ["loss=l1", "training.lambda_adv=1", "hydra.job.chdir=false"],
        "choices": {"experiment": "quick", "loss": "l1"}, "convergence": "converged",
        "cohort": {"generator": "mumap 9.9 synthetic IQ·SPECT cohort", "preset": "quick", "seed": 0}})
    text = experiment_yaml(trial, "quick-random")
    assert "# Found on a cohort built by mumap 9.9 synthetic IQ·SPECT cohort (preset quick, seed 0).\n" in text
    assert text.endswith("defaults:\n  - quick\n  - override /loss: l1\n  - _self_\ntraining:\n  lambda_adv: 1\n")
    del trial.user_attrs["cohort"]  # a trial of a search that did not record it
    assert "Found on" not in experiment_yaml(trial, "quick-random")
