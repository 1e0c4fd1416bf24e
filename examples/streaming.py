"""Print the answer as the ensemble makes each piece final: python examples/streaming.py [RECIPE]"""

import sys

from ensemble_cli import Ensemble

recipe = sys.argv[1] if len(sys.argv) > 1 else "recipes/quickstart.yaml"
with Ensemble.from_recipe(recipe) as ens:
    stream = ens.stream("Write one sentence about the sea.", max_tokens=48)
    for piece in stream:
        print(piece.text, end="", flush=True)
    print()
    print("written by:", [a.model for a in stream.completion.attribution])
