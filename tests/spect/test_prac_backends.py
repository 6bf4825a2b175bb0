"""The PRAC backend choice: one dispatch (native, stir, pytomography), native by default everywhere, clear errors."""

from __future__ import annotations

import inspect
import sys

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException

from mumap.cli import main as cli
from mumap.data.phantom import thorax_phantom
from mumap.inference.predict import predict_study
from mumap.spect.geometry import ImageGrid
from mumap.spect.prac import PRAC_BACKENDS, check_prac_backend, prac, prac_backend, prac_projector
from tests.helpers import CONF, compose_train, require_stir

GRID = ImageGrid((8, 24, 24), (9.6, 9.6, 9.6))


def test_native_backend_is_mumaps_prac():
    activity, mu = thorax_phantom(GRID)
    expected = prac(activity, mu, prac_projector(GRID))
    assert torch.equal(prac_backend("native", GRID)(activity, mu), expected)
    assert float(expected.sum()) > 1.2 * float(activity.sum())  # attenuation corrected: more counts than the nAC


@pytest.mark.parametrize("backend", ["stir", "pytomography"])
def test_peer_backends_run_their_library(backend):
    if backend == "stir":
        require_stir()
    else:
        pytest.importorskip("pytomography", reason="PyTomography is not importable", exc_type=ImportError)
    activity, mu = thorax_phantom(GRID)
    native = prac_backend("native", GRID)(activity, mu)
    peer = prac_backend(backend, GRID)(activity, mu)
    assert peer.shape == native.shape
    assert float((peer - native).norm() / native.norm()) < 0.1  # the same PRAC (close checks: their own tests)


def test_unknown_backend_and_missing_library_are_named(monkeypatch):
    with pytest.raises(ValueError, match="unknown PRAC backend 'stri': choose one of native, stir, pytomography"):
        prac_backend("stri", GRID)
    monkeypatch.setitem(sys.modules, "stir", None)  # as if STIR were not installed
    with pytest.raises(ImportError, match="STIR is not installed: run `make stir`"):
        check_prac_backend("stir")
    assert PRAC_BACKENDS[0] == "native"


def test_predict_names_a_bad_prac_backend_before_loading_anything(tmp_path, capsys, monkeypatch):
    options = ["predict", str(tmp_path / "in.nii.gz"), "--model", str(tmp_path / "no.mumap.pt"), "-o",
               str(tmp_path / "out"), "--prac"]
    assert cli([*options, "--prac-backend", "stri"]) == 2
    assert "--prac-backend stri: unknown PRAC backend 'stri'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "stir", None)
    assert cli([*options, "--prac-backend", "stir"]) == 2
    assert "--prac-backend stir: STIR is not installed: run `make stir`" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_native_is_the_default_of_evaluate_train_and_predict(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        assert compose(config_name="evaluate", overrides=["run=x"]).prac.backend == "native"
    cfg = compose_train("experiment=smoke", f"paths.output_dir={tmp_path}", "name=smoke")
    assert cfg.evaluation.prac_backend == "native"
    assert hydra.utils.instantiate(cfg.callbacks.evaluation).prac_backend == "native"
    typo = compose_train("experiment=smoke", f"paths.output_dir={tmp_path}", "name=smoke",
                         "evaluation.prac_backend=stri")
    with pytest.raises(InstantiationException, match="unknown PRAC backend 'stri'"):  # before training starts
        hydra.utils.instantiate(typo.callbacks.evaluation)
    assert inspect.signature(predict_study).parameters["prac_backend"].default == "native"
