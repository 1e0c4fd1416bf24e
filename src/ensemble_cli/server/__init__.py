"""``ensemble serve``: the recipe's pipeline behind an OpenAI-compatible HTTP API.

Modules, one job each: ``schemas`` (request/response bodies), ``errors`` (OpenAI error bodies and
status codes), ``pipelines`` (which pipeline of the served ``Ensemble`` a request's
``model``/``ensemble`` fields pick), ``service`` (request → checked plan → engine job),
``responses`` (response bodies), ``engine`` (the thread that owns the models and batches
compatible requests), ``streaming`` (SSE), ``state`` (what routes read; readiness), ``auth`` (the
API-key middleware), ``jobs`` (handing work to the engine from async handlers), ``routes`` (one
router per group of endpoints), ``app`` (assembles them), ``runner`` (uvicorn, start-up and
graceful shutdown).
"""
