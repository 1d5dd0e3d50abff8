"""The local endpoint: the local target's stand-in for a Vertex AI Endpoint, over real HTTP.

It hosts several deployed models — each one a serving-container process (``python -m llmops_trainer
serve``, the same entrypoint Vertex AI runs) with its own model version and prompt version — behind one
predict route with a traffic split, logs requests and responses to the warehouse ``prediction_log`` table
in the shape of Vertex AI request-response logging, takes user feedback into ``feedback``, and offers an
admin API (deploy, undeploy, traffic split) protected by a token. Its state survives a restart.

    python -m llmops_factory.endpoint serve [--name support-assistant] [--port 8780]

It lives in ``include/`` (not in the trainer) because it is part of the local platform, like the DuckDB
warehouse: it needs no torch, is driven by the platform adapter, the demo and the tests, and is never
shipped in the serving image. See ``server.py`` for the routes and ``client.py`` for the Python client.
"""

from __future__ import annotations

from llmops_factory.endpoint.client import (
    EndpointClient,
    EndpointError,
    LocalEndpoint,
    endpoint_dir,
    read_token,
)

__all__ = ["EndpointClient", "EndpointError", "LocalEndpoint", "endpoint_dir", "read_token"]
