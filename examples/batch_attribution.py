"""A batch of questions, and which member wrote which piece: python examples/batch_attribution.py [RECIPE]"""

import sys

from ensemble_cli import Ensemble

recipe = sys.argv[1] if len(sys.argv) > 1 else "recipes/quickstart.yaml"
questions = ["Name a prime number above 10.", "What is the capital of Italy?", "2 + 2 = ?"]
with Ensemble.from_recipe(recipe, {"generation.max_tokens": 32}) as ens:
    for completion in ens.generate(questions):  # one pipeline batch, as `ensemble run` does
        print(f"{completion.id}: {completion.text!r}")
        for piece in completion.attribution:
            print(f"    {piece.model:>8} round {piece.round}: {piece.text!r}")
