"""The ``mumap`` command line: ``synthesize`` and ``import`` (datasets), ``export`` (a model file of a
training checkpoint) and ``predict`` (μ-maps for new patients). Errors are one line naming the file; exit 2."""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console


def _workers_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                         help="worker processes, one study and one core each (default: every core)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mumap", description="Deep-learning μ-maps for myocardial perfusion SPECT")
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synthesize", help="build a synthetic IQ·SPECT cohort in the dataset contract")
    synth.add_argument("--preset", choices=["tiny", "quick", "paper", "hard"], default="quick")
    synth.add_argument("--out", required=True, help="dataset root (created; an interrupted run resumes)")
    _workers_option(synth)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--montage", action="store_true", help="also write montage.png per study")
    imports = commands.add_parser("import", help="import real studies (DICOM folder or NIfTI CSV) into the contract")
    imports.add_argument("source", help="a folder of DICOM series, or a CSV listing NIfTI files")
    imports.add_argument("--out", required=True, help="new dataset root (must not exist)")
    imports.add_argument("--seed", type=int, default=0, help="seed of the patient-level split")
    export = commands.add_parser("export", help="write the self-contained model file of a training checkpoint")
    export.add_argument("checkpoint", help="a training checkpoint (e.g. outputs/quick/checkpoints/best-*.ckpt)")
    export.add_argument("-o", "--out", required=True, help="model file to write (e.g. quick.mumap.pt)")
    export.add_argument("--config", help="the run's config (default: <run>/.hydra/config.yaml)")
    export.add_argument("--data", help="the training dataset root (default: the config's data.root)")
    _workers_option(export)  # the OOD reference's LV fits
    predict = commands.add_parser("predict", help="predict the μ-map of new studies (NIfTI file or DICOM folder)")
    predict.add_argument("input", help="a NIfTI file, a DICOM folder of one study, or with --batch a folder of those")
    predict.add_argument("--model", required=True, help="model file written by mumap export")
    predict.add_argument("-o", "--out", required=True, help="output folder (with --batch: one sub-folder per study)")
    predict.add_argument("--kind", choices=["nac", "sc"], default="nac", help="what a NIfTI input is (default nac)")
    predict.add_argument("--bed", default="template",
                         help="template (the model's, default), none, or a bed μ-map .nii.gz of the scanner")
    predict.add_argument("--resample", action="store_true",
                         help="resample an input whose voxel size differs from the model's (else an error)")
    predict.add_argument("--prac", action="store_true", help="also the PRAC-corrected image and its polar map")
    predict.add_argument("--prac-backend", default="native", metavar="{native,stir,pytomography}",
                         help="with --prac: who runs PRAC — native (mumap, default), stir (make stir) or pytomography")
    predict.add_argument("--lv-centre", metavar="X,Y,Z", help="with --prac: the LV's centre (world mm, as "
                         "prediction.json's lv_frame gives it), to correct an uncertain automatic frame")
    predict.add_argument("--lv-axis", metavar="X,Y,Z",
                         help="with --prac and --lv-centre: the LV's long axis, base → apex")
    predict.add_argument("--uncertainty-passes", type=_passes, metavar="N",
                         help="Monte Carlo dropout passes for mumap_std.nii.gz (default 8; 0: no uncertainty map)")
    predict.add_argument("--batch", action="store_true", help="input is a folder of studies; failures are listed")
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    predict.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    predict.add_argument("--trust-code", action="store_true",
                         help="build a generator class from outside mumap named by the model file (runs its code)")
    args = parser.parse_args(argv)

    console = Console(stderr=True, soft_wrap=True)
    if args.command == "synthesize":
        from mumap.data.io import DatasetError
        from mumap.data.synthesize import synthesize

        start = time.perf_counter()
        try:
            studies = synthesize(args.preset, args.out, seed=args.seed, workers=args.workers, montage=args.montage)
        except (ValueError, DatasetError) as err:
            console.print(f"[red]error:[/red] {err}")
            return 2
        console.print(f"{args.preset} cohort ready: {studies} ({time.perf_counter() - start:.0f} s)")
    elif args.command == "import":
        from pathlib import Path

        from mumap.data.io import DatasetError

        source = Path(args.source)
        _log_to(console)  # which μ-map series was taken, when there were several
        try:
            if source.suffix.lower() == ".csv":
                from mumap.data.importer import import_nifti_csv

                studies = import_nifti_csv(source, args.out, seed=args.seed)
            else:
                from mumap.data.dicom import import_dicom

                studies = import_dicom(source, args.out, seed=args.seed)
        except DatasetError as err:
            console.print(f"[red]error:[/red] {err}")
            return 2
        console.print(f"imported: {studies}")
    elif args.command == "export":
        from mumap.data.io import DatasetError
        from mumap.inference.model_file import ModelFileError, export_model, load_model

        try:
            path = export_model(args.checkpoint, args.out, config=args.config, data_root=args.data,
                                workers=args.workers)
        except (ModelFileError, DatasetError) as err:
            console.print(f"[red]error:[/red] {err}")
            return 2
        console.print(f"model file: {path} — input contract: {load_model(path).contract.describe()}")
    elif args.command == "predict":
        return _predict(args, console)
    return 0


def _passes(text: str) -> int:
    """``--uncertainty-passes``: 0 (no uncertainty map) or at least 2 (a standard deviation needs two)."""
    try:
        passes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if passes == 1 or passes < 0:
        raise argparse.ArgumentTypeError(f"{passes}: give 0 (no uncertainty map) or at least 2 passes")
    return passes


def _log_to(console: Console) -> None:
    """mumap's INFO logs (choices made, warnings) printed through rich on ``console``."""
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console)])


def _predict(args: argparse.Namespace, console: Console) -> int:
    import torch

    from mumap.inference.model_file import load_model
    from mumap.inference.predict import predict_batch, predict_study
    from mumap.spect.prac import check_prac_backend

    _log_to(console)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    options = {"kind": args.kind, "resample_input": args.resample, "bed": args.bed, "prac": args.prac,
               "prac_backend": args.prac_backend, "overwrite": args.overwrite}
    if args.uncertainty_passes is not None:
        options["passes"] = args.uncertainty_passes
    try:
        check_prac_backend(args.prac_backend)
    except (ValueError, ImportError) as err:  # unknown, or its library is missing
        console.print(f"[red]error:[/red] --prac-backend {args.prac_backend}: {err}")
        return 2
    try:
        options["lv_frame"] = _lv_frame(args)
        model = load_model(args.model, device, trust_code=args.trust_code)
        if not args.batch:
            out = predict_study(model, args.input, args.out, **options)
            console.print(f"μ-map written to {out}/ (mumap.nii.gz, mumap_std.nii.gz, mumap.hv, preview.png, "
                          "prediction.json)")
            return 0
        failures = predict_batch(model, args.input, args.out, **options)
    except ValueError as err:  # DatasetError, ModelFileError and the checks of PRAC and the polar map
        message = str(err) if str(args.input) in str(err) or str(args.model) in str(err) else f"{args.input}: {err}"
        console.print(f"[red]error:[/red] {message}")
        return 2
    if failures:
        console.print(f"[red]{len(failures)} stud{'y' if len(failures) == 1 else 'ies'} failed:[/red]")
        for study, error in failures.items():
            console.print(f"  {study}: {error}")
        return 1
    console.print(f"all studies predicted into {args.out}/")
    return 0


def _lv_frame(args: argparse.Namespace) -> dict | None:
    """The reader's LV frame of ``--lv-centre``/``--lv-axis`` (both or neither, only with --prac)."""
    if args.lv_centre is None and args.lv_axis is None:
        return None
    if args.lv_centre is None or args.lv_axis is None or not args.prac:
        raise ValueError("--lv-centre and --lv-axis go together, and with --prac")
    if args.batch:
        raise ValueError("--lv-centre and --lv-axis give one study's frame: not with --batch")
    frame = {}
    for key, option, text in (("centre_xyz_mm", "--lv-centre", args.lv_centre),
                              ("long_axis", "--lv-axis", args.lv_axis)):
        try:
            frame[key] = [float(v) for v in text.split(",")]
        except ValueError:
            frame[key] = []
        if len(frame[key]) != 3:
            raise ValueError(f"{option} needs three numbers X,Y,Z (world mm), got {text!r}")
    from mumap.evaluation.polar import lv_pose

    lv_pose(frame["centre_xyz_mm"], frame["long_axis"])  # a zero axis fails here, before the prediction
    return frame


if __name__ == "__main__":
    sys.exit(main())
