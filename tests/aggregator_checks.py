"""Shared pieces of the aggregator tests: demo examples and the consistency checks every method must pass."""

from __future__ import annotations

from ensemble_cli.core.types import Example

EXAMPLES = [
    Example("q1", [{"role": "user", "content": "What is 7 times 8?"}]),
    Example("q2", [{"role": "user", "content": "Tell me about the moon."}]),
    Example("q3", [{"role": "user", "content": "List three fruits."}]),
]

def assert_consistent(results, max_tokens: int) -> None:
    """Attributed pieces concatenate to the output; token counts add up; endings are honest."""
    for r in results:
        assert "".join(a.text for a in r.attribution) == r.output
        assert r.usage.completion_tokens == sum(a.tokens for a in r.attribution) <= max_tokens
        assert r.usage.generated_tokens >= r.usage.completion_tokens
        assert r.rounds == len(r.attribution)
        assert (r.finish_reason, r.stop_cause) in {
            ("stop", "eos"), ("stop", "stop_string"), ("length", "max_tokens"), ("length", "max_rounds"),
            ("stop", "repetition"), ("stop", "cancelled"),
        }
        if r.stop_cause == "max_tokens":
            assert r.usage.completion_tokens == max_tokens
