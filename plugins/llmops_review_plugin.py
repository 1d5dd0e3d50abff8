"""Airflow plugin: the Review page (FastAPI app at ``/llmops-review`` + a "Review" entry in the UI)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from llmops_plugins.review.app import create_app


class LlmopsReviewPlugin(AirflowPlugin):
    name = "llmops_review"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/llmops-review", "name": "LLMOps Review"}]
    external_views = [
        {
            "name": "Review",
            "href": "/llmops-review/",
            "destination": "nav",
            "category": "browse",
            "url_route": "llmops-review",
        }
    ]
