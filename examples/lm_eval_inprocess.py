"""lm-evaluation-harness on an ensemble, in this process (no server):
python examples/lm_eval_inprocess.py [RECIPE]

Writes a three-question task (a local YAML over a JSON file, so nothing is downloaded), runs it
with lm-eval's ``simple_evaluate`` on ``EnsembleLM``, and prints the score and each answer. The
same from the shell: ``ensemble lm-eval RECIPE --tasks arith --include_path TASKS_DIR``.
Needs the ``lm-eval`` extra: pip install 'ensemble-cli[lm-eval]'.
"""

import json
import sys
import tempfile
from pathlib import Path

import lm_eval
from lm_eval.tasks import TaskManager

from ensemble_cli.integrations.lm_eval import EnsembleLM

TASK = """\
task: arith
dataset_path: json
dataset_kwargs: {{data_files: {{test: "{data}"}}}}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{q}}}}\\nAnswer:"
doc_to_target: "{{{{a}}}}"
generation_kwargs: {{until: ["\\n", "Question:"], max_gen_toks: 16, do_sample: false}}
metric_list: [{{metric: exact_match}}]
"""

recipe = sys.argv[1] if len(sys.argv) > 1 else "recipes/quickstart.yaml"
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    rows = [{"q": "What is 2 + 2?", "a": "4"}, {"q": "What is 3 * 3?", "a": "9"}, {"q": "What is 10 - 7?", "a": "3"}]
    (folder / "arith.json").write_text(json.dumps(rows))
    (folder / "arith.yaml").write_text(TASK.format(data=folder / "arith.json"))
    lm = EnsembleLM(recipe, batch_size=3)  # the three questions in one pipeline batch
    try:
        results = lm_eval.simple_evaluate(model=lm, tasks=["arith"], task_manager=TaskManager(include_path=tmp),
                                          log_samples=True)
    finally:
        lm.close()
print(f"exact match: {results['results']['arith']['exact_match,none']:.2f}")
for sample in results["samples"]["arith"]:
    print(f"{sample['doc']['q']!r} -> {sample['filtered_resps'][0]!r} (expected {sample['target']!r})")
