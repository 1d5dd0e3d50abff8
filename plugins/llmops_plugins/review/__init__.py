"""The Review page: an Airflow 3 UI plugin (a FastAPI app mounted by the api-server + a UI view).

``app.create_app()`` builds the app; ``plugins/llmops_review_plugin.py`` registers it with the plugin
manager (``fastapi_apps`` at ``/llmops-review``, ``external_views`` entry "Review" in the navigation).
"""

from __future__ import annotations
