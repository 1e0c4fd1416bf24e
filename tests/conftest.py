import os
import sys
from pathlib import Path

# Tests are single-threaded by default: the suite is mostly tiny models, and 2-core CI machines
# thrash when torch spins up a thread pool per test process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))
