"""A bench folder (``ensemble bench``'s ``--output-dir``) as one JSON document for the bench viewer.

The figures are ``bench summary``'s (``evaluation.results.result_row``: accuracies with Wilson
intervals, lift with its paired interval, McNemar, cost ratios, output shares) plus the per-system
costs of ``Comparison``; per problem, each system's extracted answer, verdict and output, so a
click in the page shows them side by side. Nothing is re-run: the records are re-graded as
``bench summary`` does. ``plots`` names the PNG figures in the folder (``report.png`` from
``ensemble bench``, a ``bench plot`` frontier saved there), which ``plot_path`` serves.

A ``bench.json`` opened on its own (the page's upload, when the records files are not at hand) is
read in the browser: its stored comparison gives the table, and the page says that the per-problem
view and the re-graded intervals need the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evaluation.folders import read_bench
from ..evaluation.grade import grade_record
from ..evaluation.results import result_row


def bench_document(folder: str | Path) -> dict[str, Any]:
    """Read and re-grade ``folder``; raises ``UsageError`` naming it when it is not a finished bench."""
    bench = read_bench(folder)
    systems = {**bench.members, bench.ensemble_name: bench.ensemble}
    by_id = {name: {str(r.get("id")): r for r in recs} for name, recs in systems.items()}
    problems = []
    for rid, prompt in bench.problems().items():
        row: dict[str, Any] = {"id": rid, "prompt": prompt, "reference": None, "systems": {}}
        for name in systems:
            record = by_id[name].get(rid)
            graded = grade_record(record) if record is not None else None
            if graded is not None:
                row["reference"] = graded.reference
            row["systems"][name] = {
                "output": (record or {}).get("output"),
                "answer": graded.answer if graded else None,
                "correct": graded.correct if graded else None,
            }
        problems.append(row)
    return {
        "folder": str(folder),
        "ensemble": bench.ensemble_name,
        "members": list(bench.members),
        "summary": result_row(bench).to_dict(),
        "comparison": bench.comparison.to_dict(),
        "problems": problems,
        "plots": plots(folder),
    }


def plots(folder: str | Path) -> list[str]:
    """The PNG figures directly in ``folder``, ``report.png`` first."""
    names = sorted(p.name for p in Path(folder).glob("*.png") if p.is_file())
    return sorted(names, key=lambda n: n != "report.png")


def plot_path(folder: str | Path, name: str) -> Path | None:
    """The figure ``name`` of ``folder`` (a plain file name listed by ``plots``), else ``None``."""
    return Path(folder) / name if name in plots(folder) else None


__all__ = ["bench_document", "plot_path", "plots"]
