"""Ask an ensemble one question: python examples/one_question.py [RECIPE]"""

import sys

from ensemble_cli import Ensemble

recipe = sys.argv[1] if len(sys.argv) > 1 else "recipes/quickstart.yaml"
with Ensemble.from_recipe(recipe) as ens:
    answer = ens.generate("What is 12 * 7? Answer with the number.", max_tokens=48)
    print(answer.text)
    print(f"[{answer.finish_reason}/{answer.stop_cause}, {answer.usage.completion_tokens} tokens]")
