"""Config plumbing shared by every entry point: the OmegaConf resolvers the configs use, and building the
components of a config group from their ``_target_`` (``hydra.utils.instantiate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf


def fast_precision() -> str:
    """The quickest safe Lightning precision here: bf16 autocast where the hardware has bf16 units
    (CUDA with bf16, or CPUs with AVX512-BF16/AMX — 2× faster 3D convolutions), fp16 autocast on
    older GPUs, else full fp32 (emulated bf16 would be slower). The ``${fast_precision:}`` resolver."""
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return "bf16-mixed" if "avx512_bf16" in flags or "amx_bf16" in flags else "32-true"


def input_kinds(input: str, extra_inputs: ListConfig | list[str]) -> list[str]:
    """The image kind of each input channel: ``data.input`` then ``data.extra_inputs`` (``${input_kinds:…}``)."""
    return [str(input), *(str(kind) for kind in extra_inputs)]


def register_resolvers() -> None:
    """Register ``${fast_precision:}``, ``${input_kinds:input,extra}`` and ``${len:list}`` (idempotent)."""
    OmegaConf.register_new_resolver("fast_precision", fast_precision, replace=True)
    OmegaConf.register_new_resolver("input_kinds", input_kinds, replace=True)
    OmegaConf.register_new_resolver("len", lambda items: len(items), replace=True)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """The objects of a group of named components (``callbacks``, ``logger``), each built from its
    ``_target_``, in config order; entries set to null are left out."""
    if group is None:
        return []
    built = []
    for name in group:
        node = group[name]
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"{group._get_full_key(name)}: has no _target_ (set it to null to leave it out)")
        built.append(hydra.utils.instantiate(node))
    return built


register_resolvers()
