"""Grading and comparing runs: ``ensemble eval`` (grade record files) and ``ensemble bench`` (run a
recipe and each of its members alone, then compare them). Answer extraction lives in
``ensemble_cli.answers`` (math-verify); this package adds statistics, summaries and reports."""
