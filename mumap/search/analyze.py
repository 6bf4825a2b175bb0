"""Analysis of a hyper-parameter search, as in the paper's Sec. 3.1 and Fig. 3:
``python -m mumap.search.analyze <storage URL | optuna.db | sweep dir> [--study NAME] [--out DIR] [--export NAME]``.

Only complete trials that converged (:mod:`mumap.search.convergence`) enter the statistics; how many
did not converge is counted per choice. Per categorical parameter: validation NMAE by choice (mean ±
std, n), the Shapiro–Wilk test per group, then for every pair of choices Welch's t-test where both
groups look normal (p > 0.05, n ≥ 3) and the Mann–Whitney U test otherwise (two-sided, uncorrected
p-values, as in the paper). Numeric parameters with many values (patches per image) get Spearman's ρ
instead. The report folder holds ``trials.csv``, ``choices.csv``, ``tests.csv``, ``summary.md`` and one
Fig. 3-style PNG per parameter; ``--export NAME`` writes the best converged trial as
``conf/experiment/NAME.yaml``, so that ``python train.py experiment=NAME`` trains it again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from mumap.search.sweeper import SURPLUS
from mumap.utils.atomic import write_csv_atomic, write_text_atomic
from mumap.utils.plotting import plt, save_figure

ALPHA = 0.05
LAMBDAS = ("training.lambda_adv", "training.lambda_dist")
LAMBDA_SETTING = "λadv vs λdist"  # derived parameter: the paper's finding is about their ratio


def storage_url(target: str | Path) -> str:
    """An Optuna storage URL from a URL, an ``optuna.db`` file or a sweep folder holding one."""
    text = str(target)
    if "://" in text:
        return text
    path = Path(text)
    if path.is_dir():
        path = path / "optuna.db"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no Optuna database (give a storage URL, an optuna.db or a sweep folder)")
    return f"sqlite:///{path}"


def load_optuna_study(target: str | Path, study_name: str | None = None) -> optuna.Study:
    """The Optuna study ``study_name`` of the storage, or its only study."""
    url = storage_url(target)
    names = [s.study_name for s in optuna.get_all_study_summaries(url, include_best_trial=False)]
    if study_name is None:
        if len(names) != 1:
            raise ValueError(f"{url} holds {len(names)} studies {names}: choose one with --study")
        study_name = names[0]
    if study_name not in names:
        raise ValueError(f"{url} has no study {study_name!r}; it has {names}")
    return optuna.load_study(study_name=study_name, storage=url)


@dataclass
class Trial:
    """One complete trial: its parameters (display strings), validation NMAE and convergence verdict."""

    number: int
    params: dict[str, str]
    nmae: float
    converged: bool
    reason: str


def trials_of(study: optuna.Study) -> list[Trial]:
    """The complete trials of ``study`` (failed and running ones are left out)."""
    trials = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        params = {name: _display(value) for name, value in t.params.items()}
        if all(k in t.params for k in LAMBDAS):
            adv, dist = (float(t.params[k]) for k in LAMBDAS)
            params[LAMBDA_SETTING] = "adv > dist" if adv > dist else "adv < dist" if adv < dist else "adv = dist"
        trials.append(Trial(t.number, params, float(t.value), bool(t.user_attrs.get("converged", True)),
                            str(t.user_attrs.get("convergence", "converged"))))
    return trials


def _display(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _categorical(study: optuna.Study, name: str, values: list[str]) -> bool:
    distributions = [t.distributions.get(name) for t in study.get_trials(deepcopy=False)]
    if any(isinstance(d, CategoricalDistribution) for d in distributions) or name == LAMBDA_SETTING:
        return True
    return len(set(values)) <= 3


@dataclass
class GroupStats:
    choice: str
    n: int
    mean: float
    std: float
    shapiro_p: float  # NaN below 3 values
    not_converged: int
    total: int


@dataclass
class PairTest:
    parameter: str
    a: str
    b: str
    test: str       # welch-t | mann-whitney-u | spearman | none (too few values)
    statistic: float
    p: float


def group_stats(choice: str, values: np.ndarray, not_converged: int, total: int) -> GroupStats:
    shapiro = float(stats.shapiro(values).pvalue) if len(values) >= 3 and np.ptp(values) > 0 else math.nan
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return GroupStats(choice, len(values), float(values.mean()) if len(values) else math.nan, std, shapiro,
                      not_converged, total)


def compare(parameter: str, a: GroupStats, b: GroupStats, values_a: np.ndarray, values_b: np.ndarray) -> PairTest:
    """Welch's t-test if both groups pass Shapiro–Wilk (p > 0.05, n ≥ 3), else Mann–Whitney U (two-sided)."""
    if len(values_a) < 2 or len(values_b) < 2:
        return PairTest(parameter, a.choice, b.choice, "none", math.nan, math.nan)
    if a.shapiro_p > ALPHA and b.shapiro_p > ALPHA:
        result = stats.ttest_ind(values_a, values_b, equal_var=False)
        return PairTest(parameter, a.choice, b.choice, "welch-t", float(result.statistic), float(result.pvalue))
    result = stats.mannwhitneyu(values_a, values_b, alternative="two-sided")
    return PairTest(parameter, a.choice, b.choice, "mann-whitney-u", float(result.statistic), float(result.pvalue))


@dataclass
class ParameterAnalysis:
    name: str
    groups: list[GroupStats]
    tests: list[PairTest]
    values: dict[str, np.ndarray]  # converged NMAE per choice


def analyze_parameter(study: optuna.Study, trials: list[Trial], name: str) -> ParameterAnalysis:
    with_param = [t for t in trials if name in t.params]
    choices = sorted({t.params[name] for t in with_param}, key=_sort_key)
    if not _categorical(study, name, choices):
        ok = [t for t in with_param if t.converged]
        x, y = np.array([float(t.params[name]) for t in ok]), np.array([t.nmae for t in ok])
        rho = stats.spearmanr(x, y) if len(ok) >= 3 and np.ptp(x) > 0 else None
        test = PairTest(name, "ρ", "NMAE", "spearman" if rho else "none", float(rho.statistic) if rho else math.nan,
                        float(rho.pvalue) if rho else math.nan)
        not_conv = sum(not t.converged for t in with_param)
        group = group_stats("all", y, not_conv, len(with_param)) if len(y) else GroupStats(
            "all", 0, math.nan, math.nan, math.nan, not_conv, len(with_param))
        return ParameterAnalysis(name, [group], [test], {"all": y})
    values, groups = {}, []
    for choice in choices:
        members = [t for t in with_param if t.params[name] == choice]
        values[choice] = np.array([t.nmae for t in members if t.converged])
        groups.append(group_stats(choice, values[choice], sum(not t.converged for t in members), len(members)))
    tests = [compare(name, a, b, values[a.choice], values[b.choice]) for a, b in itertools.combinations(groups, 2)]
    return ParameterAnalysis(name, groups, tests, values)


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def parameter_figure(analysis: ParameterAnalysis):
    """Fig. 3 style: mean ± std bars of validation NMAE per choice with the trials as dots, the pairwise
    p-values above, and the non-converged count per choice under each bar."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(analysis.groups), 3.6))
    rng = np.random.default_rng(0)
    for i, group in enumerate(analysis.groups):
        ax.bar(i, group.mean, yerr=group.std if group.n > 1 else None, color="#9ecae1", edgecolor="#3182bd",
               capsize=4, width=0.6)
        y = analysis.values[group.choice]
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(y)), y, s=12, color="#08519c", zorder=3)
        ax.annotate(f"n={group.n}\nnot conv. {group.not_converged}/{group.total}", (i, 0), xytext=(0, -30),
                    textcoords="offset points", ha="center", va="top", fontsize=7)
    ax.set_xticks(range(len(analysis.groups)), [g.choice for g in analysis.groups], fontsize=8)
    ax.set_ylabel("validation NMAE")
    tests = [t for t in analysis.tests if t.test != "none"]
    title = analysis.name + "".join(f"\n{t.a} vs {t.b}: p = {t.p:.3g} ({t.test})" for t in tests[:3])
    if tests and tests[0].test == "spearman":
        title = f"{analysis.name}\nSpearman ρ = {tests[0].statistic:.2f}, p = {tests[0].p:.3g}"
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def best_trial(study: optuna.Study) -> tuple[FrozenTrial, bool]:
    """The complete trial with the lowest validation NMAE among the converged ones (or, if none
    converged, among all complete ones), and whether it converged."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    converged = [t for t in complete if t.user_attrs.get("converged", True)]
    return min(converged or complete, key=lambda t: t.value), bool(converged)


def experiment_yaml(trial: FrozenTrial, study_name: str) -> str:
    """The trial as an experiment config: its base experiment, its config-group choices as defaults
    overrides and every other override as keys, so that ``experiment=<name>`` composes the trial's config."""
    overrides = [o for o in trial.user_attrs.get("overrides", []) if not o.startswith(("hydra.", "hparams="))]
    choices = trial.user_attrs.get("choices", {})
    if not overrides or not choices:
        raise ValueError(f"trial {trial.number} stores no overrides/choices: it was not run by the mumap sweeper")
    base = choices.get("experiment")
    defaults, keys = [f"  - {base}"] if base else [], []
    for override in overrides:
        key, _, value = override.partition("=")
        if key in choices and key != "experiment":
            defaults.append(f"  - override /{key}: {value}")
        elif key not in choices:
            keys.append(override)
    lines = ["# @package _global_",
             f"# Best trial #{trial.number} of search {study_name!r}: validation NMAE {trial.value:.5f}, "
             f"{trial.user_attrs.get('convergence', 'converged')}.",
             *_cohort_line(trial.user_attrs.get("cohort", {})),
             "# Exported by `python -m mumap.search.analyze`; `python train.py experiment=<file name>` trains it.",
             "defaults:", *defaults, "  - _self_", ""]
    return "\n".join(lines) + OmegaConf.to_yaml(OmegaConf.from_dotlist(keys))


def _cohort_line(cohort: dict) -> list[str]:
    """The exported config's comment line naming the cohort the trial trained on (none if not recorded)."""
    if not cohort.get("generator"):
        return []
    built = ", ".join(f"{key} {cohort[key]}" for key in ("preset", "seed") if key in cohort)
    return [f"# Found on a cohort built by {cohort['generator']}" + (f" ({built})" if built else "") + "."]


def analyze(target: str | Path, out: str | Path, study_name: str | None = None,
            export: str | None = None, conf: str | Path = "conf") -> dict:
    """Write the report of a study to ``out`` (and the best trial to ``conf/experiment/<export>.yaml``)."""
    study = load_optuna_study(target, study_name)
    trials = trials_of(study)
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted({k for t in trials for k in t.params}, key=lambda k: (k == LAMBDA_SETTING, k))
    analyses = [analyze_parameter(study, trials, name) for name in names]
    write_csv_atomic(out / "trials.csv", [{"trial": t.number, "val_nmae": t.nmae, "converged": t.converged,
                                           "reason": t.reason, **{k: t.params.get(k, "") for k in names}}
                                          for t in trials])
    write_csv_atomic(out / "choices.csv", [{"parameter": a.name, **vars(g)} for a in analyses for g in a.groups])
    write_csv_atomic(out / "tests.csv", [vars(t) for a in analyses for t in a.tests])
    figures = {a.name: save_figure(parameter_figure(a), out / f"fig3_{_slug(a.name)}.png") for a in analyses}
    failed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
              if not t.user_attrs.get(SURPLUS)]
    best, best_converged = best_trial(study)
    summary = {"study": study.study_name, "complete": len(trials), "converged": sum(t.converged for t in trials),
               "failed": len(failed), "best_trial": best.number, "best_val_nmae": best.value,
               "best_converged": best_converged, "best_params": best.params}
    if export:
        path = Path(conf) / "experiment" / f"{export}.yaml"
        write_text_atomic(path, experiment_yaml(best, study.study_name))
        summary["exported"] = str(path)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1, default=str))
    write_text_atomic(out / "summary.md", _markdown(summary, trials, analyses, figures))
    return summary


def _slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name).strip("_").replace("__", "_")


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _markdown(summary: dict, trials: list[Trial], analyses: list[ParameterAnalysis], figures: dict) -> str:
    lines = [f"# Search {summary['study']!r}", "",
             f"{summary['complete']} complete trials, {summary['converged']} converged "
             f"({summary['complete'] - summary['converged']} judged not converged), {summary['failed']} failed. "
             f"Best {'converged' if summary['best_converged'] else '(none converged!)'}: "
             f"trial {summary['best_trial']}, validation NMAE {summary['best_val_nmae']:.4f}.", ""]
    if "exported" in summary:
        lines += [f"Exported as `{summary['exported']}`.", ""]
    lines += ["Converged trials only; Shapiro–Wilk per group, then Welch's t-test where both groups look "
              "normal (p > 0.05), Mann–Whitney U otherwise; two-sided, uncorrected.", ""]
    for a in analyses:
        lines += [f"## {a.name}", "", f"![{a.name}]({figures[a.name].name})", "",
                  "| choice | n | NMAE mean ± std | Shapiro–Wilk p | not converged |", "|---|---|---|---|---|"]
        lines += [f"| {g.choice} | {g.n} | {_fmt(g.mean)} ± {_fmt(g.std)} | {_fmt(g.shapiro_p, 3)} | "
                  f"{g.not_converged}/{g.total} |" for g in a.groups]
        lines += ["", *[f"- {t.a} vs {t.b}: {t.test}, statistic {_fmt(t.statistic, 3)}, p = {_fmt(t.p, 4)}"
                        for t in a.tests], ""]
    reasons = [t for t in trials if not t.converged]
    if reasons:
        lines += ["## Not converged", "", *[f"- trial {t.number}: {t.reason}" for t in reasons], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mumap.search.analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="storage URL (sqlite:///…, postgresql://…), optuna.db or sweep folder")
    parser.add_argument("--study", help="study name (needed when the storage holds several)")
    parser.add_argument("--out", help="report folder (default: <sweep folder>/analysis or ./analysis)")
    parser.add_argument("--export", metavar="NAME", help="write the best trial as conf/experiment/NAME.yaml")
    parser.add_argument("--conf", default="conf", help="config folder for --export (default: conf)")
    args = parser.parse_args(argv)
    folder = Path(args.target) if Path(args.target).is_dir() else Path(args.target).parent
    out = Path(args.out) if args.out else (folder if "://" not in args.target else Path(".")) / "analysis"
    summary = analyze(args.target, out, args.study, args.export, args.conf)
    print(f"{summary['study']}: {summary['complete']} complete, {summary['converged']} converged, "
          f"{summary['failed']} failed; best trial {summary['best_trial']} (val NMAE {summary['best_val_nmae']:.4f})")
    print(f"report: {out / 'summary.md'}" + (f"; exported {summary['exported']}" if "exported" in summary else ""))


if __name__ == "__main__":
    main()
