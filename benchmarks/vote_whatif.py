"""Re-vote a pool of samples without generating again: which k per member and which weights win?

A ``best-of-n`` run lists every sample in its records (``summary.candidates``: member, sample
index, final answer, finish reason, tokens, mean log-prob). Sample ``k`` of a member is seeded by
the recipe seed, the problem, the member and ``k`` — never by ``n`` — so the first ``k`` samples of
a member in a big pool are the samples a recipe with ``n: k`` draws (up to bf16 batch-shape
numerics, see README "Reproducibility"). This script re-votes every subset ``(k_1, k_2, …)`` of
the pool under the ``vote`` scorer's rules (weighted agreement, a missing answer scores -1) and
``best-of-n``'s tie rule (ended beats cut off, then the higher mean log-prob, then member order),
grades the winners against the labels and compares each with the best member's greedy answer
from the same bench folder (exact McNemar p, tokens ×, estimated time ×).

It is the tool for issue 18's "choose weights and k on a separate slice": run the pool
(``recipes/quality/coder-sample-pool.yaml``) on GSM8K test 1000+ and read the table; never on the
reported problems.

    python benchmarks/vote_whatif.py results/gsm8k-tuning/coder-sample-pool \
        [--weights 1,0.5,0.625] [--max-cost 5] [--check]

Estimated time × = the samples' tokens × the member's greedy seconds per token (from its
baseline run in the folder), over the best member's greedy time: sampling in a larger batch is
usually cheaper per token than that, so the estimate errs high.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ensemble_cli.answers import Answer, extract_answer, reference_answer, same_answer
from ensemble_cli.evaluation.stats import mcnemar_exact, paired_difference_interval, wilson_interval
from ensemble_cli.scorers.vote import agreeing_sets


@dataclass
class Problem:
    id: str
    reference: Answer | None
    candidates: list[dict[str, Any]]


@cache
def parse(text: str | None) -> Answer | None:
    return extract_answer(text) if text else None


@cache
def is_correct(answer: str | None, reference: str) -> bool:
    return same_answer(parse(answer), reference_answer(reference))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_pool(path: Path) -> tuple[list[Problem], dict[str, Any]]:
    file = path / "ensemble.jsonl" if path.is_dir() else path
    problems = []
    for rec in read_jsonl(file):
        cands = (rec.get("summary") or {}).get("candidates")
        if rec.get("label") is None or not cands:
            continue
        problems.append(Problem(str(rec["id"]), rec["label"], cands))
    if not problems:
        sys.exit(f"{file}: no record with a label and summary.candidates (run a best-of-n recipe)")
    return problems, {}


def member_baselines(folder: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Greedy records per member (``member-NAME.jsonl`` of a bench folder), by id."""
    out = {}
    for f in sorted(folder.glob("member-*.jsonl")):
        out[f.stem.removeprefix("member-")] = {str(r["id"]): r for r in read_jsonl(f)}
    return out


def vote(cands: list[dict[str, Any]], weights: dict[str, float]) -> dict[str, Any]:
    """The winner under the vote scorer and best-of-n's tie rule (logprob)."""
    answers = [parse(c["answer"]) for c in cands]
    w = [weights.get(c["member"], 1.0) for c in cands]
    scores = []
    for i, agree in enumerate(agreeing_sets(answers)):
        scores.append(-1.0 if answers[i] is None else w[i] + sum(w[j] for j in agree) - 1.0)

    def key(i: int) -> tuple[float, bool, float, int]:
        lp = cands[i]["mean_logprob"]
        return (scores[i], cands[i]["finish_reason"] == "stop", lp if lp is not None else float("-inf"), -i)

    return cands[max(range(len(cands)), key=key)]


def subset(cands: list[dict[str, Any]], ks: dict[str, int], order: list[str]) -> list[dict[str, Any]]:
    """The first ``ks[m]`` samples of each member, members in recipe order."""
    return [c for m in order for c in cands if c["member"] == m and c["sample"] < ks[m]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool", type=Path, help="bench folder (ensemble.jsonl + member-*.jsonl) or a results file")
    ap.add_argument("--weights", default="1,0.5,0.625", help="vote weights tried for every member but the first")
    ap.add_argument("--max-cost", type=float, default=None, help="only configurations at most this time ×")
    ap.add_argument("--check", action="store_true", help="re-vote the whole pool and compare with the recorded choice")
    args = ap.parse_args()

    problems, _ = load_pool(args.pool)
    order = list(dict.fromkeys(c["member"] for p in problems for c in p.candidates))
    pool_k = {m: 1 + max(c["sample"] for p in problems for c in p.candidates if c["member"] == m) for m in order}
    folder = args.pool if args.pool.is_dir() else args.pool.parent
    base = member_baselines(folder)
    ids = [p.id for p in problems if all(p.id in base[m] for m in base)]
    by_id = {p.id: p for p in problems}
    print(f"pool: {len(problems)} problems, samples per member {pool_k}; {len(ids)} with every member's greedy run")

    if args.check:
        same = sum(vote(p.candidates, {})["sample"] == next(c for c in p.candidates if c["chosen"])["sample"]
                   and vote(p.candidates, {})["member"] == next(c for c in p.candidates if c["chosen"])["member"]
                   for p in problems)
        print(f"check: plain re-vote of the whole pool picks the recorded answer on {same}/{len(problems)}")

    greedy_ok = {m: {i: is_correct(_answer_of(base[m][i]), base[m][i]["label"]) for i in ids} for m in base}
    if not greedy_ok:
        sys.exit(f"{folder}: no member-*.jsonl baselines to compare with")
    best = max(greedy_ok, key=lambda m: sum(greedy_ok[m].values()))
    sec_per_tok = {m: _seconds_per_token(base[m], ids) for m in base}
    best_time = sum(_tokens(base[best][i]) for i in ids) * sec_per_tok[best]
    best_tokens = sum(_tokens(base[best][i]) for i in ids)
    n = len(ids)
    for m in base:
        c = sum(greedy_ok[m].values())
        print(f"greedy {m}: {c}/{n} = {100 * c / n:.1f}%" + ("  (best)" if m == best else ""))
    oracle = sum(any(is_correct(c["answer"], by_id[i].reference) for c in by_id[i].candidates) for i in ids)
    print(f"pool oracle (any sample right): {oracle}/{n}")

    weights_tried = [float(x) for x in args.weights.split(",")]
    rows = []
    for ks in itertools.product(*[range(pool_k[m] + 1) for m in order]):
        k = dict(zip(order, ks, strict=True))
        if sum(ks) == 0:
            continue
        used = [m for m in order if k[m]]
        grid = [()] if len(used) < 2 else list(itertools.product(weights_tried, repeat=len(used) - 1))
        for ws in grid:
            weights = dict(zip(used[1:], ws, strict=True))
            ok, tokens, seconds = {}, 0, 0.0
            for i in ids:
                cands = subset(by_id[i].candidates, k, order)
                ok[i] = is_correct(vote(cands, weights)["answer"], by_id[i].reference)
                for c in cands:
                    tokens += c["tokens"]
                    seconds += c["tokens"] * sec_per_tok.get(c["member"], 0.0)
            time_x = seconds / best_time if best_time else float("nan")
            if args.max_cost is not None and time_x > args.max_cost:
                continue
            a_only = sum(ok[i] and not greedy_ok[best][i] for i in ids)
            b_only = sum(greedy_ok[best][i] and not ok[i] for i in ids)
            both = sum(ok[i] and greedy_ok[best][i] for i in ids)
            lo, hi = paired_difference_interval(both, a_only, b_only, n - both - a_only - b_only)
            correct = sum(ok.values())
            rows.append((k, weights, correct, a_only, b_only, mcnemar_exact(a_only, b_only), lo, hi,
                         tokens / best_tokens, time_x))
    rows.sort(key=lambda r: (-r[2], r[9]))
    print(f"\n{'samples':<28} {'weights':<18} {'acc':>7} {'95% CI':>14} {'lift [95% CI]':>22} "
          f"{'ens/best':>9} {'p':>6} {'tok×':>6} {'time×':>6}")
    for k, weights, correct, a_only, b_only, p, lo, hi, tok_x, time_x in rows:
        wl, wh = wilson_interval(correct, n)
        lift = 100 * (correct - sum(greedy_ok[best].values())) / n
        samples = " ".join(f"{m}:{v}" for m, v in k.items() if v)
        wtxt = " ".join(f"{m}:{v:g}" for m, v in weights.items()) or "-"
        print(f"{samples:<28} {wtxt:<18} {100 * correct / n:6.1f}% [{100 * wl:4.1f},{100 * wh:5.1f}] "
              f"{lift:+6.1f} [{100 * lo:+5.1f},{100 * hi:+5.1f}] {a_only:>4}/{b_only:<4} {p:6.3f} "
              f"{tok_x:6.2f} {time_x:6.2f}")


def _answer_of(record: dict[str, Any]) -> str | None:
    a = parse(record.get("output")) if isinstance(record.get("output"), str) else None
    return a.text if a else None


def _tokens(record: dict[str, Any]) -> int:
    usage = record.get("usage") or {}
    return int(usage.get("generated_tokens") or usage.get("completion_tokens") or 0)


def _seconds_per_token(records: dict[str, dict[str, Any]], ids: list[str]) -> float:
    """The member's greedy generation seconds per token (each batch's time counted once)."""
    batches: dict[Any, tuple[float, int]] = {}
    for i in ids:
        r = records[i]
        timing = r.get("timing") or {}
        key = timing.get("started_at") or id(r)
        secs, toks = batches.get(key, (float(timing.get("seconds") or 0.0), 0))
        batches[key] = (secs, toks + _tokens(r))
    seconds = sum(s for s, _ in batches.values())
    tokens = sum(t for _, t in batches.values())
    return seconds / tokens if tokens else 0.0


if __name__ == "__main__":
    main()
