"""Constants shared by the web UI tests and their fixtures (a module of its own: ``conftest``
is not importable by name when several test folders have one)."""

DUO = """\
name: tiny-duo
models:
  - name: first
    generator: hf
    params: {{model: {a}, dtype: float32}}
  - name: second
    generator: hf
    params: {{model: {b}, dtype: float32}}
aggregator:
  type: reward
  params: {{segment_tokens: 3, max_rounds: 8}}
scorer: logprob
generation: {{max_tokens: 12, temperature: 0.0, seed: 7}}
"""
KEY = "ui-secret"
