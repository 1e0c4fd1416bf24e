"""Finished bench folders read back, for ``bench plot`` and ``bench summary``.

A bench folder is what ``ensemble bench`` leaves in its ``--output-dir``: ``bench.json`` (which
systems ran, each one's generation time, the command) and one records file per system. Accuracy,
the McNemar counts, tokens and output shares are recomputed from the records with ``compare``, as
``ensemble eval`` re-grades a file: a fix to answer extraction then shows in every summary without
running a model again. Generation time is the one figure only ``bench.json`` holds.

Records files are looked up in the folder by their file name (``bench.json`` stores the paths as
the bench was given them, often relative to another working directory), so a folder can be moved
or copied whole. A folder that is not a finished bench (no ``bench.json``: still running or
interrupted), a ``bench.json`` that is not a bench document, or a missing records file is a
``UsageError`` naming the folder and the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UsageError
from .baselines import run_key
from .compare import Comparison, compare
from .load import read_records


class _Cost(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seconds: float = 0.0


class _System(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    cost: _Cost = Field(default_factory=_Cost)


class _BenchDoc(BaseModel):
    """The part of ``bench.json`` a folder is read by (the rest is recomputed from the records)."""

    model_config = ConfigDict(extra="ignore")
    recipe: str
    source: str | None = None
    members: list[_System]
    ensemble: _System
    files: dict[str, str]
    command: str | None = None  #: absent in folders written before benches recorded it
    reused_baselines: dict[str, str] = {}


@dataclass
class BenchFolder:
    """One finished bench: its systems' records, their times, and the verdict recomputed."""

    path: Path
    recipe: str
    source: str | None
    command: str | None
    members: dict[str, list[dict[str, Any]]]  #: member name -> records, recipe order
    ensemble_name: str
    ensemble: list[dict[str, Any]]
    seconds: dict[str, float]  #: system name -> generation seconds (``bench.json``)
    reused: set[str]  #: members whose records an earlier bench's ``--baselines`` run supplied
    comparison: Comparison
    partial: bool = False  #: read with ``partial=True`` from a bench still running or interrupted
    time_span: str | None = None  #: the problems ``seconds`` covers when not all (``time_span.time_over``)

    @property
    def label(self) -> str:
        """The folder as the user named it, for messages and disambiguating labels."""
        return str(self.path)

    def problems(self) -> dict[str, Any]:
        """Problem id -> prompt, from the ensemble's records (every system ran the same rows)."""
        return {str(r["id"]): r.get("prompt") for r in self.ensemble}


def read_bench(path: str | Path, *, partial: bool = False) -> BenchFolder:
    """Read and re-grade the bench in ``path``.

    With ``partial``, a folder without ``bench.json`` (a bench still running, or interrupted) is read
    from its records files alone (``read_partial``); a finished folder is read as usual.
    """
    folder = Path(path)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "not found"
        raise UsageError(f"{folder}: {what}, not a bench folder (the --output-dir of an `ensemble bench`)")
    doc_path = folder / "bench.json"
    if not doc_path.is_file() and partial:
        return read_partial(folder)
    if not doc_path.is_file():
        raise UsageError(
            f"{folder} is not a finished bench folder: it has no bench.json "
            "(an interrupted bench writes it when `ensemble bench ... --resume` finishes)"
        )
    doc = _read_doc(doc_path)
    records = {}
    for system in [*doc.members, doc.ensemble]:
        stored = doc.files.get(system.name)
        if stored is None:
            raise UsageError(f"{doc_path}: files: no records file named for {system.name!r}")
        file = folder / Path(stored).name
        if not file.is_file():
            raise UsageError(f"{folder}: records file {file.name} of {system.name!r} is missing")
        records[system.name] = read_records(file).records
    members = {m.name: records[m.name] for m in doc.members}
    seconds = {s.name: s.cost.seconds for s in [*doc.members, doc.ensemble]}
    name = doc.ensemble.name
    return BenchFolder(
        path=folder,
        recipe=doc.recipe,
        source=doc.source,
        command=doc.command,
        members=members,
        ensemble_name=name,
        ensemble=records[name],
        seconds=seconds,
        reused=set(doc.reused_baselines),
        comparison=compare(members, records[name], seconds, ensemble_name=name),
    )


def read_benches(paths: Sequence[str | Path], *, partial: bool = False) -> list[BenchFolder]:
    """Read every folder (whatever problems each ran: a summary may list any benches)."""
    if not paths:
        raise UsageError("give at least one bench folder")
    return [read_bench(p, partial=partial) for p in paths]


def read_partial(folder: Path) -> BenchFolder:
    """An unfinished bench, compared on the problems every system has finished so far.

    Long benches (hours of CPU) are read while they run, or after an interruption, without waiting
    for ``--resume`` to finish them. Systems are interleaved batch by batch with the same batches,
    so the problems all of them finished are whole batches, and each system's time is the sum of
    those batches' wall times (every record carries its batch's ``timing``). There is no command:
    the reproducing line is written with ``bench.json`` when the bench finishes.
    """
    ensemble_file = folder / "ensemble.jsonl"
    member_files = sorted(folder.glob("member-*.jsonl"))
    if not ensemble_file.is_file() or not member_files:
        raise UsageError(f"{folder}: no ensemble.jsonl and member-*.jsonl records, not a bench folder")
    ensemble_all = read_records(ensemble_file).records
    recipe = next((r["recipe"] for r in ensemble_all if isinstance(r.get("recipe"), dict)), None)
    if recipe is None:
        raise UsageError(f"{folder}: ensemble.jsonl has no finished record yet")
    order = [m.get("name") for m in recipe.get("models", [])]
    by_name = {f.stem.removeprefix("member-"): read_records(f).records for f in member_files}
    names = [n for n in order if n in by_name] + [n for n in by_name if n not in order]
    done = set.intersection(*({str(r["id"]) for r in recs} for recs in [ensemble_all, *by_name.values()]))
    if not done:
        raise UsageError(f"{folder}: no problem is finished by every system yet")

    def kept(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if str(r["id"]) in done]

    members = {n: kept(by_name[n]) for n in names}
    ensemble = kept(ensemble_all)
    name = str(recipe.get("name", "ensemble"))
    if name in members:
        name = f"{name}-ensemble"
    times = {n: batch_seconds(r) for n, r in members.items()} | {name: batch_seconds(ensemble)}
    return BenchFolder(
        path=folder,
        recipe=str(recipe.get("name", folder.name)),
        source=None,
        command=None,
        members=members,
        ensemble_name=name,
        ensemble=ensemble,
        seconds=times,
        reused=set(),
        comparison=compare(members, ensemble, times, ensemble_name=name),
        partial=True,
    )


def batch_seconds(records: Sequence[dict[str, Any]]) -> float:
    """Wall time of the batches ``records`` ran in (each batch once: its rows share one ``timing``)."""
    batches = {(t.get("started_at"), t.get("seconds")) for r in records if isinstance(t := r.get("timing"), dict)}
    return float(sum(s for _, s in batches if isinstance(s, int | float)))


def check_same_problems(folders: Sequence[BenchFolder]) -> None:
    """Points on one plot must be accuracies on the same problems: name the first folder that differs."""
    first = folders[0]
    want = first.problems()
    for other in folders[1:]:
        got = other.problems()
        if got == want:
            continue
        missing = [rid for rid in want if rid not in got]
        extra = [rid for rid in got if rid not in want]
        if missing or extra:
            detail = f"{len(got)} problems against {len(want)}"
            if extra:
                detail += f"; {_ids(extra)} not in {first.label}"
            if missing:
                detail += f"; {_ids(missing)} missing"
        else:
            changed = next(rid for rid in want if got[rid] != want[rid])
            detail = f"problem {changed!r} has another prompt"
        raise UsageError(f"bench folder {other.label} ran other problems than {first.label}: {detail}")


def member_config(records: Sequence[dict[str, Any]]) -> str:
    """The member's run configuration (generator and generation settings, its name set aside)."""
    recipe = next((r["recipe"] for r in records if isinstance(r.get("recipe"), dict)), None)
    return json.dumps(run_key(recipe), sort_keys=True) if recipe is not None else ""


def member_run(records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """What makes two member files the same run: same configuration and the same outputs.

    A ``--baselines`` copy is the same run by construction; a member run again with the same
    settings usually is too (seeded per row), and then it is one point, not two on top of each
    other. Time is not part of it: a run measured twice is still one run.
    """
    outputs = [(r.get("id"), r.get("output"), "error" in r) for r in records]
    digest = hashlib.sha256(json.dumps(outputs, ensure_ascii=False).encode("utf-8")).hexdigest()
    return member_config(records), digest


def _read_doc(path: Path) -> _BenchDoc:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    try:
        return _BenchDoc.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise UsageError(f"{path} is not a bench document: {where}: {err['msg']}") from None


def _ids(ids: list[str], most: int = 3) -> str:
    shown = ", ".join(repr(i) for i in ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")
