"""The PNG and HTML reports: accuracy bars with their Wilson intervals, cost bars, output shares.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
``pyplot``: no global figure state, no display needed, safe on a headless CI box. The HTML page is
self-contained (the PNG is embedded as base64, tables are plain HTML), so it can be mailed or
attached to an issue as one file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UsageError
from .compare import Comparison
from .stats import Accuracy
from .summary import RunSummary
from .tables import Table

_ENSEMBLE, _MEMBER, _ORACLE = "#d95f02", "#7570b3", "#999999"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.em td { font-weight: bold; }
p.note { color: #666; font-size: 0.9em; margin: 0.2em 0; }
img { max-width: 100%; }
"""


def eval_figure(summaries: Sequence[RunSummary]) -> bytes:
    """PNG: one accuracy bar (with its 95% interval) per results file."""
    fig, ax = _figure(1, width=max(4.0, 1.2 * len(summaries) + 2))
    _accuracy_bars(ax[0], [(s.name, s.accuracy, _MEMBER) for s in summaries], "accuracy per file")
    return _png(fig)


def bench_figure(c: Comparison, recipe: str) -> bytes:
    """PNG: accuracy of members / ensemble / oracle, cost relative to the best member, output shares."""
    fig, (acc_ax, cost_ax, share_ax) = _figure(3, width=15)
    bars = [(s.name, s.accuracy, _MEMBER) for s in c.members]
    bars += [(c.ensemble.name, c.ensemble.accuracy, _ENSEMBLE), ("oracle", c.oracle, _ORACLE)]
    _accuracy_bars(acc_ax, bars, f"{recipe}: accuracy ({c.compared} problems, 95% Wilson)")

    names = [s.name for s in c.systems]
    tokens = [_nan(c.costs[n].tokens_ratio) if n in c.costs else math.nan for n in names]
    times = [_nan(c.costs[n].time_ratio) if n in c.costs else math.nan for n in names]
    xs = range(len(names))
    cost_ax.bar([x - 0.2 for x in xs], tokens, width=0.4, label="tokens sampled", color="#1b9e77")
    cost_ax.bar([x + 0.2 for x in xs], times, width=0.4, label="wall time", color="#e7298a")
    cost_ax.axhline(1.0, color="#444", linewidth=0.8, linestyle="--")
    cost_ax.set_xticks(list(xs), names, rotation=20, ha="right")
    cost_ax.set_title(f"cost relative to the best member ({c.best})")
    cost_ax.set_ylabel("× best member")
    cost_ax.legend()

    members = list(c.shares)
    share_ax.bar(members, [100 * c.shares[m] for m in members], color=_MEMBER)
    share_ax.set_ylim(0, 100)
    share_ax.set_ylabel("% of attributed characters")
    share_ax.set_title("who wrote the ensemble's output")
    share_ax.tick_params(axis="x", rotation=20)
    return _png(fig)


def write_png(path: str | Path, png: bytes) -> None:
    _write(Path(path), png)


def write_html(path: str | Path, title: str, tables: Sequence[Table], png: bytes | None = None) -> None:
    """A self-contained HTML page: the tables, then the figure (embedded)."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">generated {datetime.now(UTC).isoformat(timespec="seconds")} by ensemble-cli</p>',
        *(t.to_html() for t in tables),
    ]
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="{html.escape(title)} figure" src="data:image/png;base64,{data}">')
    parts.append("</body></html>\n")
    _write(Path(path), "\n".join(parts).encode("utf-8"))


def _figure(panels: int, width: float):  # noqa: ANN202 - matplotlib types
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 4.2), layout="constrained")
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def _accuracy_bars(ax, bars: Sequence[tuple[str, Accuracy, str]], title: str) -> None:  # noqa: ANN001
    values = [100 * _nan(a.value) for _, a, _ in bars]
    low = [max(0.0, v - 100 * _nan(a.low)) for v, (_, a, _) in zip(values, bars, strict=True)]
    high = [max(0.0, 100 * _nan(a.high) - v) for v, (_, a, _) in zip(values, bars, strict=True)]
    names = [n for n, _, _ in bars]
    ax.bar(names, values, yerr=[low, high], capsize=4, color=[c for _, _, c in bars])
    for i, v in enumerate(values):
        if not math.isnan(v):
            ax.annotate(f"{v:.1f}", (i, v), textcoords="offset points", xytext=(8, 2), fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)


def _png(fig) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
