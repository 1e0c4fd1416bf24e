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

#: a recipe of the --recipes folder that runs on the duo's loaded models (other names, another method)
LOOP = """\
name: tiny-loop
models:
  - name: alpha
    generator: hf
    params: {{model: {a}, dtype: float32}}
  - name: beta
    generator: hf
    params: {{model: {b}, dtype: float32}}
aggregator:
  type: loop
  params: {{segment_tokens: 2, max_rounds: 6}}
generation: {{max_tokens: 10, temperature: 0.0, seed: 7}}
"""
#: the same model in another dtype is another model: not loaded by the duo
UNLOADED = LOOP.replace("tiny-loop", "tiny-bf16").replace("dtype: float32}}\n  - name: beta",
                                                          "dtype: bfloat16}}\n  - name: beta")
