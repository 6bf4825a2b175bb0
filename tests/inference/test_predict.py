"""``mumap export`` and ``mumap predict``: the model file, the outputs a physicist's software reads, the
input contract, and batch mode."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from mumap.cli import main as cli
from mumap.data import io
from mumap.data.dicom import find_series, mu_map_volume
from mumap.evaluation.polar import LVFrame, extracardiac_excess
from mumap.inference.model_file import load_model
from mumap.spect import interfile
from tests.dicom_habits import write_nm_habit
from tests.helpers import dciodvfy_errors, dicom_uids, require_stir, write_nm


@pytest.mark.slow
def test_model_file_is_self_contained_and_safe_to_load(model_file, smoke_run):
    payload = torch.load(model_file, weights_only=True)  # tensors and plain data only: no code runs
    assert payload["format"] == "mumap-model" and payload["contract"]["inputs"] == ["nac"]
    assert payload["contract"]["voxel_zyx_mm"] == [9.6, 9.6, 9.6]
    stats = payload["normalization"]["training_images"]["nac"]
    assert payload["normalization"]["kind"] == "mean" and stats["image_mean_counts"]["min"] > 0
    model = load_model(model_file)
    [checkpoint] = (smoke_run / "checkpoints").glob("best-*.ckpt")
    weights = torch.load(checkpoint, weights_only=False)["state_dict"]
    for name, value in model.generator.state_dict().items():
        assert torch.equal(value, weights[f"generator.{name}"])
    # the bed under the body's centre: 0.07 cm⁻¹ × 10–20 mm of pallet ≈ 0.11 cm⁻¹ · voxels of 9.6 mm
    middle = model.bed_profile[:, model.bed_profile.shape[1] // 2]
    assert middle.sum() == pytest.approx(0.07 * 15 / 9.6, rel=0.3)


@pytest.mark.slow
def test_predict_nifti_writes_a_mu_map_on_the_input_grid(model_file, tiny_cohort, test_study, tmp_path):
    source = tiny_cohort / test_study["nac"]
    out = tmp_path / "pred"
    assert cli(["predict", str(source), "--model", str(model_file), "-o", str(out), "--prac"]) == 0
    assert {p.name for p in out.iterdir()} == {"mumap.nii.gz", "mumap_std.nii.gz", "mumap.hv", "mumap.v", "preview.png",
                                              "prac.nii.gz", "polar_map.png", "prediction.json"}
    written, reference = nib.load(out / "mumap.nii.gz"), nib.load(source)
    np.testing.assert_allclose(written.affine, reference.affine)
    assert written.shape == reference.shape
    mu, voxel, origin = io.load_nifti(out / "mumap.nii.gz")
    nac, nac_voxel, nac_origin = io.load_nifti(source)
    assert voxel == nac_voxel and origin == nac_origin
    assert mu.min() >= 0 and 0.1 < mu.max() < 1.0  # cm⁻¹: tissue present, not HU
    stir, header = interfile.read(out / "mumap.hv")
    np.testing.assert_allclose(stir, mu, rtol=1e-6)
    assert float(header["scaling factor (mm/pixel) [1]"]) == pytest.approx(9.6)
    record = json.loads((out / "prediction.json").read_text())
    assert record["bed"] == "template" and record["bed_mu_sum"] > 0 and not record["resampled"]
    std, std_voxel, _ = io.load_nifti(out / "mumap_std.nii.gz")  # Monte Carlo dropout, on the same grid
    assert std.shape == mu.shape and std_voxel == voxel and std.min() >= 0 and std.max() > 0
    assert record["uncertainty"]["passes"] == 8
    assert record["uncertainty"]["mean_std_cm-1"] == pytest.approx(float(std.mean()), rel=1e-5)
    assert len(record["segment_scores_percent"]) == 17 and max(record["segment_scores_percent"]) <= 100
    assert record["lv_frame"]["source"] == "automatic"
    assert record["lv_uncertain"] is LVFrame(**record["lv_frame"]).uncertain
    prac, prac_voxel, prac_origin = io.load_nifti(out / "prac.nii.gz")
    assert prac.shape == nac.shape and prac.sum() > nac.sum()  # attenuation correction adds counts
    assert record["polar_extracardiac_excess"] == pytest.approx(extracardiac_excess(
        prac, LVFrame(**record["lv_frame"]), prac_voxel, prac_origin), abs=1e-6)
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())
    # a reader's frame (here the phantom's) replaces the automatic one and is recorded as given
    truth = json.loads((tiny_cohort / test_study["truth"]).read_text())["lv"]
    centre, axis = (",".join(f"{v:.2f}" for v in truth[key]) for key in ("centre_xyz_mm", "long_axis"))
    given = tmp_path / "given"
    assert cli(["predict", str(source), "--model", str(model_file), "-o", str(given), "--prac", "--lv-centre", centre,
                "--lv-axis", axis]) == 0
    reader = json.loads((given / "prediction.json").read_text())
    assert reader["lv_frame"]["source"] == "reader" and reader["lv_uncertain"] is False
    np.testing.assert_allclose(reader["lv_frame"]["centre_xyz_mm"], [float(v) for v in centre.split(",")])
    np.testing.assert_allclose(reader["lv_frame"]["long_axis"], truth["long_axis"], atol=1e-2)


@pytest.mark.slow
def test_bed_choices(model_file, tiny_cohort, test_study, tmp_path):
    source = tiny_cohort / test_study["nac"]
    options = ["--model", str(model_file)]
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "none"), "--bed", "none"]) == 0
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "template")]) == 0
    true_bed = np.where(io.load_nifti(tiny_cohort / test_study["bed"])[0] > 0,
                        io.load_nifti(tiny_cohort / test_study["mumap"])[0], 0.0)
    io.save_nifti(tmp_path / "bed.nii.gz", true_bed, *io.load_nifti(source)[1:])
    bed_file = str(tmp_path / "bed.nii.gz")
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "file"), "--bed", bed_file]) == 0
    none, template, file = (io.load_nifti(tmp_path / name / "mumap.nii.gz")[0] for name in ("none", "template", "file"))
    bed = true_bed > 0
    np.testing.assert_allclose(file[bed], true_bed[bed], rtol=1e-5)  # the scanner's own bed, exactly
    # the template attenuates like the true bed (total μ, cm⁻¹ · voxels) and only adds
    record = json.loads((tmp_path / "template" / "prediction.json").read_text())
    assert record["bed_mu_sum"] == pytest.approx(true_bed.sum(), rel=0.3)
    assert np.all(template >= none)


@pytest.mark.slow
@pytest.mark.parametrize("habit", [{}, {"position": "HFP", "frame_direction": -1, "mapping": "rwvm"}],
                         ids=["HFS", "HFP, negative spacing, RWVM"])
def test_predict_dicom_writes_a_valid_series_a_viewer_overlays(model_file, tiny_cohort, test_study, tmp_path, habit,
                                                               caplog):
    nac, voxel, origin = io.load_nifti(tiny_cohort / test_study["nac"])
    folder = tmp_path / "study"
    folder.mkdir()
    uids = dicom_uids("PT1")
    write_nm_habit(folder / "nac.dcm", nac, "MPI stress IRNC", uids, slope=float(nac.max()) / 60000, voxel=voxel,
                   origin=origin, **habit)
    write_nm(folder / "ac.dcm", nac, "MPI stress IRAC", uids, voxel=voxel, origin=origin)  # ignored: not needed
    out = tmp_path / "pred"
    assert cli(["predict", str(folder), "--model", str(model_file), "-o", str(out)]) == 0
    assert dciodvfy_errors(out / "mumap.dcm") == []
    written = pydicom.dcmread(out / "mumap.dcm")
    source = pydicom.dcmread(folder / "nac.dcm")
    assert written.FrameOfReferenceUID == uids["frame"] and written.StudyInstanceUID == uids["study"]
    assert written.PatientID == "PT1" and written.SeriesInstanceUID != source.SeriesInstanceUID
    assert written.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    [series] = find_series(out)
    assert series.role == "mumap"  # our importer reads it as a μ-map in cm⁻¹
    volume = mu_map_volume(series)
    assert volume.voxel_zyx_mm == pytest.approx(voxel) and volume.origin_zyx_mm == pytest.approx(origin)
    mu = io.load_nifti(out / "mumap.nii.gz")[0]
    np.testing.assert_allclose(volume.data, mu, atol=1e-5)
    record = json.loads((out / "prediction.json").read_text())
    assert record["patient_position"] == habit.get("position", "HFS")
    assert ("lies prone (HFP)" in caplog.text) == ("position" in habit)
    # however it was written, the input is the same volume: the same μ-map as from its NIfTI
    reference = tmp_path / "from_nifti"
    assert cli(["predict", str(tiny_cohort / test_study["nac"]), "--model", str(model_file), "-o", str(reference)]) == 0
    np.testing.assert_allclose(mu, io.load_nifti(reference / "mumap.nii.gz")[0], atol=1e-3)


@pytest.mark.slow
def test_an_input_unlike_the_training_cohort_is_warned_about(model_file, tiny_cohort, test_study, tmp_path, caplog):
    nac, voxel, origin = io.load_nifti(tiny_cohort / test_study["nac"])
    assert cli(["predict", str(tiny_cohort / test_study["nac"]), "--model", str(model_file), "-o",
                str(tmp_path / "usual"), "--uncertainty-passes", "0"]) == 0
    usual = json.loads((tmp_path / "usual" / "prediction.json").read_text())
    assert not (tmp_path / "usual" / "mumap_std.nii.gz").exists() and "uncertainty" not in usual
    hot = tmp_path / "hot.nii.gz"  # 50 × the counts: a count level no training study had
    io.save_nifti(hot, 50.0 * nac, voxel, origin)
    with caplog.at_level("WARNING"):
        assert cli(["predict", str(hot), "--model", str(model_file), "-o", str(tmp_path / "hot"),
                    "--uncertainty-passes", "0"]) == 0
    record = json.loads((tmp_path / "hot" / "prediction.json").read_text())["ood"]
    # flagged for what was changed, the count level, whatever else the tiny training cohort finds unusual in it
    assert record["out_of_distribution"] and "body_mean_counts" not in usual["ood"]["beyond"]
    assert next(iter(record["beyond"])) == "body_mean_counts" and record["beyond"]["body_mean_counts"] > 10
    assert "outside the model's training cohort" in caplog.text and "mean counts inside the body" in caplog.text


@pytest.mark.slow
def test_the_input_contract_is_enforced(model_file, tiny_cohort, test_study, tmp_path, capsys, caplog):
    source = tiny_cohort / test_study["nac"]
    options = ["--model", str(model_file)]
    sc = str(tiny_cohort / test_study["sc"])
    assert cli(["predict", sc, "--kind", "sc", *options, "-o", str(tmp_path / "a")]) == 2
    assert "takes nac" in capsys.readouterr().err and not (tmp_path / "a").exists()
    nac, voxel, origin = io.load_nifti(source)
    coarse = tmp_path / "coarse.nii.gz"
    io.save_nifti(coarse, nac[::2], (2 * voxel[0], voxel[1], voxel[2]), origin)
    assert cli(["predict", str(coarse), *options, "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "coarse.nii.gz: voxel size 19.2 × 9.6 × 9.6 mm" in err and "--resample" in err
    assert cli(["predict", str(coarse), *options, "-o", str(tmp_path / "c"), "--resample"]) == 0
    assert io.load_nifti(tmp_path / "c" / "mumap.nii.gz")[0].shape == nac[::2].shape
    assert json.loads((tmp_path / "c" / "prediction.json").read_text())["resampled"]
    assert cli(["predict", str(source), "--model", str(source), "-o", str(tmp_path / "d")]) == 2
    assert "not a mumap model file" in capsys.readouterr().err
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "c")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "e"), "--lv-centre", "1,2,3"]) == 2
    assert "--lv-centre and --lv-axis go together, and with --prac" in capsys.readouterr().err
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "e"), "--prac", "--lv-centre", "1,2",
                "--lv-axis", "1,0,0"]) == 2
    assert "--lv-centre needs three numbers X,Y,Z (world mm), got '1,2'" in capsys.readouterr().err
    assert cli(["predict", str(tiny_cohort), *options, "-o", str(tmp_path / "e"), "--batch", "--prac", "--lv-centre",
                "1,2,3", "--lv-axis", "1,0,0"]) == 2
    assert "not with --batch" in capsys.readouterr().err
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "e"), "--prac", "--lv-centre", "1,2,3",
                "--lv-axis", "0,0,0"]) == 2
    assert "the LV's long axis cannot be the zero vector" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_predict_runs_prac_in_stir_when_asked(model_file, tiny_cohort, test_study, tmp_path):
    require_stir()
    source = tiny_cohort / test_study["nac"]
    options = ["--model", str(model_file), "--prac", "--uncertainty-passes", "0"]
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "native")]) == 0
    assert cli(["predict", str(source), *options, "-o", str(tmp_path / "stir"), "--prac-backend", "stir"]) == 0
    records = {name: json.loads((tmp_path / name / "prediction.json").read_text()) for name in ("native", "stir")}
    assert records["native"]["prac_backend"] == "native" and records["stir"]["prac_backend"] == "stir"
    native, stir = (io.load_nifti(tmp_path / name / "prac.nii.gz")[0] for name in ("native", "stir"))
    # the same PRAC: measured 0.108 with the 2-epoch smoke model's μ-map (0.034 with a study's CT μ-map)
    assert np.linalg.norm(stir - native) / np.linalg.norm(native) < 0.15


@pytest.mark.slow
def test_batch_continues_past_failures_and_resumes(model_file, tiny_cohort, tmp_path, capsys):
    rows = io.read_studies(tiny_cohort / "studies.csv")[:2]
    batch = tmp_path / "in"
    batch.mkdir()
    for row in rows:
        (batch / f"{row['id']}.nii.gz").write_bytes((tiny_cohort / row["nac"]).read_bytes())
    (batch / "broken.nii.gz").write_bytes((tiny_cohort / rows[0]["nac"]).read_bytes()[:500])
    out = tmp_path / "out"
    assert cli(["predict", str(batch), "--batch", "--model", str(model_file), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 study failed" in err and "broken.nii.gz: not a readable NIfTI file" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(row["id"] for row in rows)
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*/mumap.nii.gz")}
    (batch / "broken.nii.gz").unlink()
    assert cli(["predict", str(batch), "--batch", "--model", str(model_file), "-o", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*/mumap.nii.gz")} == done  # resumed, not redone


def test_the_model_files_config_is_resolved_where_it_can_be():
    from omegaconf import OmegaConf

    from mumap.inference.model_file import _resolved

    cfg = OmegaConf.create({"a": 2, "b": {"c": "${a}", "d": ["${a}", 3]}, "name": "${hydra:runtime.choices.x}"})
    assert _resolved(cfg) == {"a": 2, "b": {"c": 2, "d": [2, 3]}, "name": "${hydra:runtime.choices.x}"}
