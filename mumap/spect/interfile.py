"""Interfile export (and re-import) in the form STIR reads, plus a STIR recipe for the same PRAC.

Images as ``.hv`` + raw ``.v``, SPECT projections as ``.hs`` + raw ``.s`` (float32, little endian), and, in
:func:`export_prac_for_stir`, the forward-projector and OSMAPOSL parameter files (SPECT UB matrix, Gaussian PSF
σ = slope·depth + σ0, full attenuation) with a shell script that runs them. The geometry follows STIR's
conventions as :mod:`mumap.spect.stir_backend` found and tested them (start angle, μ-map mirrored for SPECTUB);
``tests/spect/test_stir_backend.py`` runs the recipe through STIR's Python module.

Raw data order: images are written from ``[z, y, x]`` arrays (x fastest, STIR's order);
projections from ``[view, row, column]`` arrays (one view after the other, bins fastest).
Every file is written to a temporary name and renamed, so a kill never leaves half a file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mumap.spect.geometry import Acquisition, ImageGrid
from mumap.spect.stir_backend import SPECTUB_MAX_SIGMAS, spectub_mu, stir_start_angle_deg
from mumap.utils.atomic import atomic_path, write_text_atomic

_DTYPES = {("float", 4): "f4", ("float", 8): "f8", ("unsigned integer", 2): "u2", ("signed integer", 2): "i2",
           ("unsigned integer", 4): "u4", ("signed integer", 4): "i4"}


class InterfileError(ValueError):
    """An Interfile header or its data file is missing, malformed or inconsistent."""


def write_image(path: str | Path, image: np.ndarray, voxel_zyx_mm: tuple[float, float, float]) -> Path:
    """Write ``image [z, y, x]`` with ``voxel_zyx_mm`` = (dz, dy, dx) as ``path`` (.hv) + raw ``.v``."""
    path = Path(path)
    image = np.asarray(image, dtype="<f4")
    if image.ndim != 3:
        raise InterfileError(f"{path}: an Interfile image must be 3-D [z, y, x], got shape {image.shape}")
    nz, ny, nx = image.shape
    dz, dy, dx = voxel_zyx_mm
    header = [
        "!INTERFILE  :=",
        "!imaging modality := nucmed",
        "!version of keys := 3.3",
        f"name of data file := {path.with_suffix('.v').name}",
        "!GENERAL DATA :=",
        "!GENERAL IMAGE DATA :=",
        "!type of data := Tomographic",
        "imagedata byte order := LITTLEENDIAN",
        "!SPECT STUDY (General) :=",
        "!process status := reconstructed",
        "!number format := float",
        "!number of bytes per pixel := 4",
        "number of dimensions := 3",
        "matrix axis label [1] := x",
        f"!matrix size [1] := {nx}",
        f"scaling factor (mm/pixel) [1] := {dx:.6g}",
        "matrix axis label [2] := y",
        f"!matrix size [2] := {ny}",
        f"scaling factor (mm/pixel) [2] := {dy:.6g}",
        "matrix axis label [3] := z",
        f"!matrix size [3] := {nz}",
        f"scaling factor (mm/pixel) [3] := {dz:.6g}",
        "number of time frames := 1",
        "!END OF INTERFILE :=",
    ]
    _write(path, header, image)
    return path


def write_projections(
    path: str | Path,
    projections: np.ndarray,
    acquisition: Acquisition,
    energy_window_kev: tuple[float, float] = (129.0, 150.0),
) -> Path:
    """Write SPECT ``projections [view, row, column]`` as ``path`` (.hs) + raw ``.s``.

    Angles: mumap's gantry angle θ (0° anterior, increasing towards the patient's left, see
    :mod:`mumap.spect.geometry`) is STIR's ``180° − θ`` (:func:`~mumap.spect.stir_backend.stir_start_angle_deg`):
    start angle ``180° − θ₀``, clockwise. (Earlier exports wrote θ₀: the whole orbit turned by 180° − 2θ₀,
    288° for the IQ·SPECT arc, so STIR saw the other side of the patient.)
    """
    path = Path(path)
    projections = np.asarray(projections, dtype="<f4")
    expected = (acquisition.n_views, *acquisition.detector_shape)
    if projections.shape != expected:
        raise InterfileError(f"{path}: projections have shape {projections.shape}, the acquisition expects {expected}")
    rows, cols = acquisition.detector_shape
    dv, du = acquisition.pixel_vu_mm
    extent = acquisition.n_views * acquisition.step_deg
    header = [
        "!INTERFILE  :=",
        "!imaging modality := nucmed",
        "!version of keys := 3.3",
        f"name of data file := {path.with_suffix('.s').name}",
        "!GENERAL DATA :=",
        "!GENERAL IMAGE DATA :=",
        "!type of data := Tomographic",
        "imagedata byte order := LITTLEENDIAN",
        "number of energy windows := 1",
        f"energy window lower level[1] := {energy_window_kev[0]:.6g}",
        f"energy window upper level[1] := {energy_window_kev[1]:.6g}",
        "!SPECT STUDY (General) :=",
        "!number format := float",
        "!number of bytes per pixel := 4",
        "number of dimensions := 2",
        "matrix axis label [1] := bin coordinate",
        f"!matrix size [1] := {cols}",
        f"!scaling factor (mm/pixel) [1] := {du:.6g}",
        "matrix axis label [2] := axial coordinate",
        f"!matrix size [2] := {rows}",
        f"!scaling factor (mm/pixel) [2] := {dv:.6g}",
        f"!number of projections := {acquisition.n_views}",
        f"total number of images := {acquisition.n_views}",
        f"number of detector heads := {acquisition.n_heads}",
        f"!extent of rotation := {extent:.6g}",
        "!process status := acquired",
        "!SPECT STUDY (acquired data) :=",
        "!direction of rotation := CW",
        f"start angle := {stir_start_angle_deg(acquisition):.6g}",
        "orbit := circular",
        f"radius := {acquisition.radius_cm * 10:.6g}",
        f"; mumap collimator := {acquisition.collimator.kind}",
        "!END OF INTERFILE :=",
    ]
    _write(path, header, projections)
    return path


def read_header(path: str | Path) -> dict[str, str]:
    """Keys (lower case, without ``!``) and values of an Interfile header."""
    path = Path(path)
    if not path.is_file():
        raise InterfileError(f"{path}: no such Interfile header")
    text = path.read_text(errors="replace").splitlines()
    if not text or not text[0].lstrip("!").strip().upper().startswith("INTERFILE"):
        raise InterfileError(f"{path}: not an Interfile header (first line must be '!INTERFILE :=')")
    header: dict[str, str] = {}
    for line in text:
        line = line.split(";", 1)[0].strip()
        if ":=" not in line:
            continue
        key, value = line.split(":=", 1)
        key = re.sub(r"\s+", " ", key.strip().lstrip("!").lower())
        key = re.sub(r"\s*\[", " [", key)
        header[key] = value.strip()
        if key == "end of interfile":
            break
    return header


def read(path: str | Path) -> tuple[np.ndarray, dict[str, str]]:
    """Data and header of an Interfile image (``[z, y, x]``) or SPECT projections (``[view, row, column]``)."""
    path = Path(path)
    header = read_header(path)

    def number(key: str) -> int:
        if key not in header:
            raise InterfileError(f"{path}: header has no '{key}'")
        try:
            return int(float(header[key]))
        except ValueError as err:
            raise InterfileError(f"{path}: '{key} := {header[key]}' is not a number") from err

    fmt = (header.get("number format", "float").lower(), number("number of bytes per pixel"))
    if fmt not in _DTYPES:
        raise InterfileError(f"{path}: unsupported number format {fmt}")
    order = ">" if header.get("imagedata byte order", "LITTLEENDIAN").upper().startswith("BIG") else "<"
    if "number of projections" in header:
        shape = (number("number of projections"), number("matrix size [2]"), number("matrix size [1]"))
    else:
        shape = (number("matrix size [3]"), number("matrix size [2]"), number("matrix size [1]"))
    data_file = path.parent / header.get("name of data file", "")
    if not data_file.is_file():
        raise InterfileError(f"{path}: data file '{data_file.name}' not found next to the header")
    data = np.fromfile(data_file, dtype=order + _DTYPES[fmt], offset=int(header.get("data offset in bytes", 0)))
    if data.size != int(np.prod(shape)):
        raise InterfileError(f"{data_file}: holds {data.size} values, the header {path.name} promises {shape}")
    return data.reshape(shape), header


def export_prac_for_stir(
    directory: str | Path,
    nac: np.ndarray,
    mu: np.ndarray,
    grid: ImageGrid,
    acquisition: Acquisition,
    *,
    n_iterations: int = 10,
    n_subsets: int = 3,
) -> Path:
    """Write everything STIR needs to rerun mumap's PRAC; returns the run script.

    Files: ``nac.hv``, ``mu_spectub.hv`` (the μ-map mirrored in x, as SPECTUB must read it: STIR issue #452),
    ``init.hv`` (ones), ``template.hs`` (the parallel PRAC geometry of ``acquisition``), ``forward_project.par``
    (pseudo-projections, no attenuation), ``prac_osem.par`` (the Poisson objective with the μ-map, OSMAPOSL's
    format) and ``run_prac_stir.sh``. The script runs STIR's ``forward_project``, then the OSEM of
    ``prac_osem.par`` by ``python -m mumap.spect.stir_backend`` (STIR's Python module): STIR's ``OSMAPOSL``
    refuses subsets of unequal size, as 34 views in 3 subsets are. The SPECT UB settings are those of the
    in-memory backend (:class:`~mumap.spect.stir_backend.STIRProjector`), so both give the same image.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    parallel = Acquisition.parallel_for(grid, acquisition)
    write_image(directory / "nac.hv", nac, grid.voxel_zyx_mm)
    write_image(directory / "mu_spectub.hv", spectub_mu(mu), grid.voxel_zyx_mm)
    write_image(directory / "init.hv", np.ones(grid.shape, dtype=np.float32), grid.voxel_zyx_mm)
    write_projections(directory / "template.hs", np.zeros((parallel.n_views, *parallel.detector_shape)), parallel)
    # SPECTUB takes a linear σ(depth); mumap's response is √((d(l_e + t)/l_e)² + R_i²)/2.355: its best line
    slope, sigma0 = parallel.collimator.linear_sigma_fit()

    def spect_ub(attenuation: str) -> list[str]:
        return [
            "Matrix type := SPECT UB",
            "Projection Matrix By Bin SPECT UB Parameters :=",
            f"  maximum number of sigmas := {SPECTUB_MAX_SIGMAS:g}",
            "  psf type := 3D",
            f"  collimator slope := {slope:.6g}",
            f"  collimator sigma 0(cm) := {sigma0:.6g}",
            f"  attenuation type := {attenuation}",
            f"  attenuation map := {'mu_spectub.hv' if attenuation != 'No' else ''}",
            "  mask type := No",
            "  keep all views in cache := 1",
            "End Projection Matrix By Bin SPECT UB Parameters :=",
        ]

    forward = ["Forward Projector parameters :=", "type := Matrix", "Forward Projector Using Matrix Parameters :=",
               *spect_ub("No"), "End Forward Projector Using Matrix Parameters :=", "End :="]
    osem_par = [
        "OSMAPOSLParameters :=",
        "; PRAC step 2: OSEM (OSMAPOSL without prior) of the pseudo-projections with the mu-map",
        "; (mu_spectub.hv is the mu-map mirrored in x: SPECTUB reads it unmirrored, STIR issue #452)",
        "objective function type := PoissonLogLikelihoodWithLinearModelForMeanAndProjData",
        "PoissonLogLikelihoodWithLinearModelForMeanAndProjData Parameters :=",
        "input file := pseudo_projections.hs",
        "use subset sensitivities := 1",
        "projector pair type := Matrix",
        "Projector Pair Using Matrix Parameters :=",
        *spect_ub("Full"),
        "End Projector Pair Using Matrix Parameters :=",
        "end PoissonLogLikelihoodWithLinearModelForMeanAndProjData Parameters :=",
        "initial estimate := init.hv",
        "output filename prefix := prac",
        f"number of subsets := {n_subsets}",
        f"number of subiterations := {n_iterations * n_subsets}",
        f"save estimates at subiteration intervals := {n_iterations * n_subsets}",
        "END :=",
    ]
    script = [
        "#!/usr/bin/env bash",
        "# PRAC (Liu et al. 2021) in STIR, written by mumap: pseudo-projections of the nAC image without",
        "# attenuation, then OSEM with the mu-map. Needs STIR's forward_project on PATH and STIR's Python module",
        "# beside mumap (make stir): STIR's OSMAPOSL refuses subsets of unequal size (34 views in 3 subsets).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "forward_project pseudo_projections nac.hv template.hs forward_project.par",
        "python3 -m mumap.spect.stir_backend prac_osem.par prac.hv",
        "echo 'AC image: prac.hv'",
    ]
    _write_text(directory / "forward_project.par", forward)
    _write_text(directory / "prac_osem.par", osem_par)
    run = _write_text(directory / "run_prac_stir.sh", script)
    run.chmod(0o755)
    return run


def _write(header_path: Path, header: list[str], data: np.ndarray) -> None:
    """Raw data first, header last, each written atomically (so a header never points at missing data)."""
    suffix = {".hv": ".v", ".hs": ".s"}.get(header_path.suffix)
    if suffix is None:
        raise InterfileError(f"{header_path}: Interfile headers end in .hv (image) or .hs (projections)")
    with atomic_path(header_path.with_suffix(suffix)) as tmp:
        data.tofile(tmp)
    _write_text(header_path, header)


def _write_text(path: Path, lines: list[str]) -> Path:
    return write_text_atomic(path, "\n".join(lines) + "\n")
