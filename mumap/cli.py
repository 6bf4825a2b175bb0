"""The ``mumap`` command line: ``mumap synthesize`` and ``mumap import`` (more arrive with their issues)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mumap", description="Deep-learning μ-maps for myocardial perfusion SPECT")
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synthesize", help="build a synthetic IQ·SPECT cohort in the dataset contract")
    synth.add_argument("--preset", choices=["tiny", "quick", "paper"], default="quick")
    synth.add_argument("--out", required=True, help="dataset root (created; an interrupted run resumes)")
    synth.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--montage", action="store_true", help="also write montage.png per study")
    imports = commands.add_parser("import", help="import real studies (DICOM folder or NIfTI CSV) into the contract")
    imports.add_argument("source", help="a folder of DICOM series, or a CSV listing NIfTI files")
    imports.add_argument("--out", required=True, help="new dataset root (must not exist)")
    imports.add_argument("--seed", type=int, default=0, help="seed of the patient-level split")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
