"""One direction of dependencies: `lint-imports` keeps the contracts in pyproject.toml — the layers, strict enough
to catch an upward import or an import between independent siblings, and prediction without Lightning, which
catches Lightning loaded through a chain of imports but not for annotations only."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the repository's contract on the ``mumap`` package found first from ``cwd``."""
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
               "--no-cache", "--no-logo", str(PYPROJECT)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def contract_layers() -> list[list[str]]:
    """The contract's layers, highest first, each as its module names (``a | b`` → ``["a", "b"]``)."""
    [contract] = [c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
                  if c["id"] == "layers"]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def skeleton(root: Path, extra: dict[str, str]) -> Path:
    """An empty ``mumap`` package with one subpackage per layer of the contract, plus the ``extra`` modules
    (path relative to ``mumap/`` → source)."""
    package = root / "mumap"
    for name in (name for layer in contract_layers() for name in layer):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for path, source in extra.items():
        (package / path).write_text(source)
    return root


def test_the_package_keeps_the_layers_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_the_contract_is_the_plan_s_layering():
    assert contract_layers() == [["cli", "bench", "demo"], ["search", "inference"], ["evaluation"], ["training"],
                                 ["models"], ["data"], ["spect"], ["utils"]]


def test_a_downward_import_keeps_the_contract(tmp_path):
    result = lint_imports(skeleton(tmp_path, {"training/x.py": "import mumap.spect\nimport mumap.utils\n"}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("path", "imported", "message"), [
    ("spect/x.py", "mumap.training", "mumap.spect is not allowed to import mumap.training"),
    ("utils/x.py", "mumap.spect", "mumap.utils is not allowed to import mumap.spect"),
    ("inference/x.py", "mumap.search", "mumap.inference is not allowed to import mumap.search"),
    ("bench/x.py", "mumap.demo", "mumap.bench is not allowed to import mumap.demo"),
])
def test_an_upward_or_sibling_import_breaks_the_contract(tmp_path, path, imported, message):
    result = lint_imports(skeleton(tmp_path, {path: f"import {imported}\n"}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 kept, 1 broken" in result.stdout
    assert message in result.stdout
    assert f"- mumap.{path.removesuffix('.py').replace('/', '.')} -> {imported} (l.1)" in result.stdout


def test_a_module_outside_every_layer_breaks_the_contract(tmp_path):
    result = lint_imports(skeleton(tmp_path, {"figures.py": ""}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "- mumap.figures" in result.stdout


def test_lightning_behind_a_chain_of_imports_breaks_prediction_s_contract(tmp_path):
    result = lint_imports(skeleton(tmp_path, {"training/x.py": "import lightning\n",
                                              "inference/x.py": "import mumap.training.x\n"}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 kept, 1 broken" in result.stdout
    assert "mumap.inference.x -> mumap.training.x (l.1)" in result.stdout
    assert "mumap.training.x -> lightning (l.1)" in result.stdout


def test_lightning_for_annotations_only_keeps_prediction_s_contract(tmp_path):
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lightning\n"
    result = lint_imports(skeleton(tmp_path, {"models/x.py": typing_only}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
