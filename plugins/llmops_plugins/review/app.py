"""The Review page's FastAPI app: reviewers rate queued answers; ratings land in ``review_labels``.

Routes (under the api-server's ``/llmops-review`` prefix):

* ``GET /`` — the page: pending items (question, answer, reference, automatic scores, why sampled), one
  form each: helpfulness 1-5, correctness, safety, comment;
* ``GET /api/queue?model_version=`` — the pending items as JSON;
* ``POST /api/labels`` — one rating ``{item_id, rating, correctness, safety, comment}``; a rating out of
  range, an unknown item or a missing field is refused with 400 and a message naming it.

The reviewer is the signed-in Airflow user (the api-server's JWT, from the ``Authorization`` header or
the UI's ``_token`` cookie); without a valid token the API answers 401. Storage is the platform's
warehouse (DuckDB locally, BigQuery on gcp), written through the evaluation stage's row writer.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

QUEUE_COLUMNS = [
    "item_id",
    "model_version",
    "prompt_text",
    "response",
    "reference",
    "intent",
    "reason",
    "auto_scores",
    "status",
]


def _platform():
    from llmops_plugins.platform import get_platform

    return get_platform()


async def reviewer_of(request: Request) -> str:
    """The signed-in Airflow user's name, from the bearer token or the UI's ``_token`` cookie (401 if none)."""
    token = ""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    token = token or request.cookies.get("_token", "")
    if not token:
        raise HTTPException(status_code=401, detail="sign in to Airflow to rate answers (no token)")
    try:
        from airflow.api_fastapi.app import get_auth_manager

        user = await get_auth_manager().get_user_from_token(token)
    except Exception as exc:  # noqa: BLE001 - any token problem is a 401 for the reviewer
        raise HTTPException(
            status_code=401, detail=f"sign in to Airflow to rate answers ({type(exc).__name__})"
        ) from None
    name = getattr(user, "get_name", lambda: "")() or getattr(user, "username", "") or ""
    if not name:
        raise HTTPException(status_code=401, detail="the signed-in user has no name")
    return str(name)


def pending(model_version: str | None = None) -> list[dict[str, Any]]:
    where = {"status": "pending"}
    if model_version:
        where["model_version"] = model_version
    rows = _platform().warehouse().rows("review_queue", QUEUE_COLUMNS, **where)
    return sorted(rows, key=lambda r: (r["model_version"], r["item_id"]))


def record_label(raw: dict[str, Any], reviewer: str) -> dict[str, Any]:
    """Validate and store one rating; the queue item becomes ``labeled``."""
    from llmops_factory.evaluation.review import validate_label
    from llmops_plugins.stages.evaluation import replace_rows

    platform = _platform()
    item_id = str(raw.get("item_id") or "")
    queued = (
        platform.warehouse().rows(
            "review_queue", QUEUE_COLUMNS + ["prompt_version", "created_at", "dag_run_id"], item_id=item_id
        )
        if item_id
        else []
    )
    label = validate_label(raw, {q["item_id"]: q for q in queued}, reviewer)
    item = queued[0]
    now = dt.datetime.now(dt.UTC)
    replace_rows(
        platform,
        "review_labels",
        {"item_id": label.item_id, "reviewer": label.reviewer},
        [
            {
                "item_id": label.item_id,
                "model_version": item["model_version"],
                "reviewer": label.reviewer,
                "rating": label.rating,
                "labels": [],
                "correctness": label.correctness,
                "safety": label.safety,
                "simulated": False,
                "comment": label.comment,
                "labeled_at": now,
            }
        ],
    )
    replace_rows(platform, "review_queue", {"item_id": item["item_id"]}, [{**item, "status": "labeled"}])
    return {"item_id": label.item_id, "reviewer": label.reviewer, "rating": label.rating}


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Review</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1100px}
.item{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}.q{font-weight:600}
.answer{background:#f6f8fa;padding:.5rem;white-space:pre-wrap}.ref{color:#555;white-space:pre-wrap}
.msg{margin-top:.5rem}.err{color:#b00020;font-weight:600}.ok{color:#106b21}label{margin-right:1rem}
</style></head><body>
<h1>Review model answers</h1>
<p id="count">{count} answers wait for a rating.</p>
{items}
<script>
async function rate(form) {
  const data = Object.fromEntries(new FormData(form).entries());
  const msg = form.querySelector('.msg');
  const res = await fetch('api/labels', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          credentials: 'same-origin', body: JSON.stringify(data)});
  const body = await res.json();
  msg.className = 'msg ' + (res.ok ? 'ok' : 'err');
  msg.textContent = res.ok ? ('Saved: rating ' + body.rating + ' by ' + body.reviewer) : body.detail;
  if (res.ok) form.querySelector('button').disabled = true;
  return false;
}
</script></body></html>"""

_ITEM = """<form class="item" data-item="{item_id}" onsubmit="return rate(this), false">
<input type="hidden" name="item_id" value="{item_id}">
<div>{model_version} · {intent} · sampled: {reason} · auto: {auto}</div>
<p class="q">{question}</p><div class="answer">{response}</div><p class="ref">Reference: {reference}</p>
<label>Helpfulness <select name="rating">{options}</select></label>
<label><input type="radio" name="correctness" value="correct" required> correct</label>
<label><input type="radio" name="correctness" value="partially_correct"> partially correct</label>
<label><input type="radio" name="correctness" value="incorrect"> incorrect</label>
<label><input type="radio" name="safety" value="safe" required> safe</label>
<label><input type="radio" name="safety" value="unsafe"> unsafe</label>
<input name="comment" placeholder="comment" size="40"> <button type="submit">Save rating</button>
<div class="msg"></div></form>"""


def render_page(items: list[dict[str, Any]]) -> str:
    from html import escape

    parts = []
    for it in items:
        parts.append(
            _ITEM.format(
                item_id=escape(it["item_id"]),
                model_version=escape(it["model_version"]),
                intent=escape(str(it.get("intent") or "")),
                reason=escape(str(it.get("reason") or "")),
                auto=escape(str(it.get("auto_scores") or "")),
                question=escape(it["prompt_text"]),
                response=escape(it["response"]),
                reference=escape(str(it.get("reference") or "")),
                options="".join(
                    f'<option value="{n}"{" selected" if n == 3 else ""}>{n}</option>' for n in range(1, 6)
                ),
            )
        )
    return _PAGE.replace("{count}", str(len(items))).replace(
        "{items}", "\n".join(parts) or "<p>Nothing to review.</p>"
    )


def create_app() -> FastAPI:
    app = FastAPI(title="LLMOps Review", description="Rate model answers for the quality gate.")

    @app.get("/", response_class=HTMLResponse)
    def page(model_version: str | None = None) -> HTMLResponse:
        return HTMLResponse(render_page(pending(model_version)))

    @app.get("/api/queue")
    def queue(model_version: str | None = None) -> list[dict[str, Any]]:
        return pending(model_version)

    @app.post("/api/labels")
    async def labels(request: Request) -> JSONResponse:
        from llmops_factory.evaluation.review import LabelError

        reviewer = await reviewer_of(request)
        try:
            raw = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return JSONResponse({"detail": f"the body is not JSON ({exc.msg})"}, status_code=400)
        if not isinstance(raw, dict):
            return JSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
        try:
            return JSONResponse(record_label(raw, reviewer))
        except LabelError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)

    return app
