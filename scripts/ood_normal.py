"""The OOD score's AUROC of hard cohorts against every normal study of a cohort, not only its test split.

``python scripts/ood_normal.py data/quick data/hard0 data/hard1`` computes the OOD features
(:func:`mumap.evaluation.ood.file_features`) of the normal cohort's train, val and test studies and of the hard
cohorts' test studies (every hard study), fits the reference as ``mumap export`` does (train split, threshold from
val), and prints the AUROC of the hard studies' scores against the normal studies of the test split, of the val
split, of the train split (each training study scored against the reference of the other training studies, so that
none is scored against itself) and of all of them together. The evaluation report's AUROC uses the 6 test studies
of the quick cohort only; this is the same score against 48.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mumap.data import io
from mumap.evaluation.metrics import auroc
from mumap.evaluation.ood import file_features, fit_reference
from mumap.utils.parallel import map_jobs


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("normal", type=Path, help="a cohort with train, val and test splits (the training cohort)")
    parser.add_argument("hard", type=Path, nargs="+", help="hard cohorts: every study of their test split")
    parser.add_argument("--kind", default="nac", help="the image the OOD score reads (the model's input: nac or sc)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the features (one find_lv each)")
    args = parser.parse_args(argv)
    groups = {split: (args.normal, split) for split in ("train", "val", "test")}
    groups.update({f"hard {root}": (root, "test") for root in args.hard})
    try:
        paths = {name: [root / row[args.kind] for row in io.read_split(root, split)]
                 for name, (root, split) in groups.items()}
    except (io.DatasetError, KeyError) as err:
        parser.error(f"{err} (--kind {args.kind})" if isinstance(err, KeyError) else str(err))
    features = iter(map_jobs(file_features, [(path,) for name in paths for path in paths[name]], args.workers))
    found = {name: [next(features) for _ in paths[name]] for name in paths}
    reference = fit_reference(found["train"], found["val"])
    hard = [reference.score(one) for name in paths if name.startswith("hard") for one in found[name]]
    train = found["train"]
    normal = {"test": [reference.score(one) for one in found["test"]],
              "val": [reference.score(one) for one in found["val"]],
              "train, each left out": [fit_reference(train[:i] + train[i + 1:], found["val"]).score(one)
                                       for i, one in enumerate(train)]}
    normal["all"] = [score for scores in normal.values() for score in scores]
    result = {}
    for name, scores in normal.items():
        result[name] = auroc(scores, hard)
        print(f"AUROC, {len(hard)} hard studies against {name} ({len(scores)}): {result[name]:.2f}")
    return result


if __name__ == "__main__":  # map_jobs's spawned workers import this module: nothing runs on import
    main()
