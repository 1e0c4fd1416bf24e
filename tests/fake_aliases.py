"""Stand-in model aliases whose "conversion" takes no model: for ``models.prepare`` tests.

They live in an importable module (not a test file) because ``prepare_aliases`` pickles the alias
into a spawned worker process, which imports this module by name to rebuild it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ensemble_cli.models.aliases import Alias


def _no_gguf(pkg: Path) -> Path:
    raise AssertionError("a fake alias has no GGUF")


def _no_sources(pkg: Path) -> list[Path]:
    return []


@dataclass(frozen=True)
class FakeAlias(Alias):
    """Converts by writing 2,000 bytes into ``root/<name>``, after waiting (up to 60 s) for the
    alias named ``peer`` to have started too: if conversions ran one after the other, the first
    would wait in vain and fail. ``fail`` makes it raise instead of writing."""

    root: str = ""
    peer: str = ""
    fail: bool = False

    @classmethod
    def make(cls, name: str, root: Path, peer: str = "", fail: bool = False) -> FakeAlias:
        return cls(name=name, package=f"fake-{name}", module=f"fake_{name}", pip_args=(), description="fake",
                   locate_gguf=_no_gguf, sources=_no_sources, root=str(root), peer=peer, fail=fail)

    def package_dir(self) -> Path | None:
        return Path(self.root)

    def converted_dir(self) -> Path | None:
        folder = Path(self.root) / self.name
        return folder if (folder / "done").exists() else None

    def source_bytes(self) -> int:
        return 1000

    def prepare(self, *, install: bool = False, on_phase: Callable[[str], None] | None = None) -> Path:
        root = Path(self.root)
        (root / f"{self.name}.started").touch()
        if on_phase is not None:
            on_phase("waiting for its peer")
        deadline = time.monotonic() + 60
        while self.peer and not (root / f"{self.peer}.started").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.peer} never started while {self.name} was converting")
            time.sleep(0.05)
        if self.fail:
            raise ValueError("bad bytes")
        if self.peer:
            time.sleep(30 if self.name == "slow" else 0)  # ``slow`` is still busy when a peer fails
        out = root / self.name
        out.mkdir(exist_ok=True)
        (out / "weights").write_bytes(b"x" * 2000)
        (out / "done").touch()
        return out
