"""``ensemble serve``: the recipe's pipeline behind an OpenAI-compatible HTTP API.

Modules, one job each: ``schemas`` (request/response bodies), ``errors`` (OpenAI error bodies and
status codes), ``pipelines`` (which pipeline a request's ``model``/``ensemble`` fields pick),
``service`` (request → checked plan → engine job), ``responses`` (response bodies), ``engine``
(the thread that owns the models and batches compatible requests), ``streaming`` (SSE), ``app``
(routes and async glue), ``runner`` (uvicorn, start-up and graceful shutdown).
"""
