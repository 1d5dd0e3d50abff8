"""The Review page's app on the local warehouse: the queue, a valid rating, and every refused rating.

The app runs in-process (FastAPI's TestClient); reviewer identity is the Airflow token, replaced here
by a fixed reviewer except in the 401 test, which uses the real token check.
"""

from __future__ import annotations

import datetime as dt

import pytest

MV = "review-test-mv"


@pytest.fixture
def client(monkeypatch):
    from fastapi.testclient import TestClient

    from llmops_plugins.platform import get_platform
    from llmops_plugins.review import app as review_app
    from llmops_plugins.stages.evaluation import replace_rows, replace_rows_many

    platform = get_platform()
    for n in range(2):
        replace_rows(platform, "review_labels", {"item_id": f"{MV}:q{n}", "reviewer": "ann"}, [])
    when = dt.datetime(2026, 1, 4, tzinfo=dt.UTC)
    replace_rows_many(
        platform,
        "review_queue",
        [
            {
                "item_id": f"{MV}:q{n}",
                "model_version": MV,
                "prompt_version": "support_assistant@1.0.0",
                "prompt_text": f"How long is the free trial? <{n}>",
                "response": "The trial lasts 14 days.",
                "reference": "New customers get a 14-day free trial.",
                "intent": "trial",
                "reason": "stratified",
                "auto_scores": '{"rouge_l": 0.4}',
                "status": "pending",
                "created_at": when,
                "dag_run_id": "r1",
            }
            for n in range(2)
        ],
    )

    async def reviewer(request):
        return "ann"

    monkeypatch.setattr(review_app, "reviewer_of", reviewer)
    return TestClient(review_app.create_app())


def test_page_lists_pending_items_escaped(client):
    page = client.get("/", params={"model_version": MV})
    assert page.status_code == 200
    assert f'data-item="{MV}:q0"' in page.text and f'data-item="{MV}:q1"' in page.text
    assert "&lt;0&gt;" in page.text and "<0>" not in page.text, "question text is escaped"
    assert [r["item_id"] for r in client.get("/api/queue", params={"model_version": MV}).json()] == [
        f"{MV}:q0",
        f"{MV}:q1",
    ]


def test_a_rating_is_stored_with_the_reviewer_and_the_item_leaves_the_queue(client):
    from llmops_plugins.platform import get_platform

    body = {
        "item_id": f"{MV}:q0",
        "rating": "4",
        "correctness": "correct",
        "safety": "safe",
        "comment": "fine",
    }
    response = client.post("/api/labels", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"item_id": f"{MV}:q0", "reviewer": "ann", "rating": 4}
    rows = (
        get_platform()
        .warehouse()
        .rows("review_labels", ["reviewer", "rating", "correctness", "simulated"], model_version=MV)
    )
    assert rows == [{"reviewer": "ann", "rating": 4, "correctness": "correct", "simulated": False}]
    assert [r["item_id"] for r in client.get("/api/queue", params={"model_version": MV}).json()] == [
        f"{MV}:q1"
    ]
    # the same reviewer rating the item again corrects their label: replaced, never duplicated
    assert client.post("/api/labels", json={**body, "rating": 2}).status_code == 200
    rows = get_platform().warehouse().rows("review_labels", ["rating"], model_version=MV)
    assert rows == [{"rating": 2}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rating": 9}, "'rating' must be an integer 1-5"),
        ({"rating": "abc"}, "'rating' must be an integer 1-5"),
        ({"item_id": f"{MV}:nope"}, "is not in the review queue"),
        ({"correctness": ""}, "'correctness' must be one of"),
        ({"safety": "maybe"}, "'safety' must be one of"),
    ],
)
def test_bad_ratings_are_refused_with_a_clear_message(client, change, message):
    body = {"item_id": f"{MV}:q1", "rating": 3, "correctness": "correct", "safety": "safe", **change}
    response = client.post("/api/labels", json=body)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_no_token_is_401(monkeypatch):
    from fastapi.testclient import TestClient

    from llmops_plugins.review import app as review_app

    client = TestClient(review_app.create_app())
    response = client.post("/api/labels", json={"item_id": "x", "rating": 3})
    assert response.status_code == 401 and "sign in" in response.json()["detail"]
    response = client.post(
        "/api/labels", json={"item_id": "x"}, headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert response.status_code == 401
