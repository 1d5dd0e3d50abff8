"""The local endpoint over real HTTP: deploy, traffic split, logging, feedback, auth, restart.

One endpoint process (with real serving-container processes) is shared by the module; the tests run in
file order and build on each other's deployments, as an operator's session would.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from llmops_factory.endpoint import EndpointClient, EndpointError, LocalEndpoint
from llmops_factory.endpoint.process import free_port
from tests.unit.serving.conftest import MODEL_VERSION, copy_version
from tests.unit.trainer.conftest import subprocess_env

NAME = "support-assistant"
GREEDY = {"temperature": 0, "max_new_tokens": 2}
ASK = [{"instruction": "How much is the Basic plan?"}]


def query(home: Path, sql: str, params=()):
    import duckdb

    for _ in range(50):
        try:
            with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
                return conn.execute(sql, list(params)).fetchall()
        except duckdb.IOException:  # the endpoint is flushing right now
            time.sleep(0.1)
    raise AssertionError("warehouse stayed locked")


@pytest.fixture(scope="module")
def home(tmp_path_factory, serving_storage) -> Path:
    home = tmp_path_factory.mktemp("endpoint-home")
    (home / "storage").symlink_to(serving_storage)
    return home


def start(home: Path, port: int) -> LocalEndpoint:
    env = subprocess_env(LLMOPS_SERVE_THREADS="1")
    env.pop("LLMOPS_ENDPOINT_TOKEN", None)
    return LocalEndpoint(NAME, home, port, flush_interval_s=60, env=env).start(timeout_s=180)


@pytest.fixture(scope="module")
def endpoint(home):
    server = start(home, free_port())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(endpoint) -> EndpointClient:
    with endpoint.client() as client:
        yield client


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    return {}


def test_admin_calls_need_the_token(endpoint):
    token_file = endpoint.directory / "admin-token"
    assert token_file.is_file() and oct(token_file.stat().st_mode & 0o777) == "0o600"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}):
        for method, path in (
            ("GET", "/v1/admin/endpoint"),
            ("POST", "/v1/admin/deploy"),
            ("POST", "/v1/admin/undeploy"),
            ("POST", "/v1/admin/traffic-split"),
        ):
            answer = httpx.request(method, endpoint.url + path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, answer.text)
            assert "Authorization: Bearer" in answer.json()["error"]["message"]


def test_an_empty_endpoint_refuses_predictions_without_a_server_error(endpoint):
    answer = httpx.post(endpoint.url + "/v1/predict", json={"instances": ASK})
    assert answer.status_code == 503 and "no deployed model" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (
            {"model_version": "v", "model_uri": "/does/not/exist", "prompt": "support_assistant@1.0.0"},
            "deployed_model.model_uri",
        ),
        ({"model_version": "v", "prompt": "support_assistant@1.0.0"}, "deployed_model.model_uri"),
        (
            {"model_version": "v", "model_uri": "MERGED", "prompt": "support_assistant@7.0.0"},
            "deployed_model.prompt",
        ),
        (
            {"model_version": "v", "model_uri": "MERGED", "prompt": "support_assistant@1.0.0", "gpu": 1},
            "deployed_model.gpu",
        ),
        (
            {"model_version": "v", "model_uri": "MERGED", "prompt": "support_assistant@1.0.0", "id": "0"},
            "deployed_model.id",
        ),
    ],
)
def test_bad_deploy_requests_are_refused_naming_the_field(admin, merged_model, model, field):
    model = {k: (merged_model.as_uri() if v == "MERGED" else v) for k, v in model.items()}
    with pytest.raises(EndpointError) as err:
        admin._call("POST", "/v1/admin/deploy", {"deployed_model": model}, admin=True)
    assert err.value.status == 400 and err.value.field == field
    assert admin.get()["deployed_models"] == []


def test_first_deployment_takes_all_traffic(admin, merged_model, ids):
    with pytest.raises(EndpointError, match="must sum to 100") as err:
        admin.deploy(MODEL_VERSION, merged_model.as_uri(), "support_assistant@1.0.0", traffic_split={"0": 50})
    assert err.value.field == "traffic_split"
    result = admin.deploy(
        MODEL_VERSION, merged_model.as_uri(), "support_assistant@1.0.0", model_name="support-assistant"
    )
    ids["champion"] = result["deployed_model"]["id"]
    assert result["traffic_split"] == {ids["champion"]: 100}
    state = admin.get()
    assert [m["status"] for m in state["deployed_models"]] == ["running"]
    answer = admin.predict(ASK, GREEDY)
    assert answer["deployedModelId"] == ids["champion"] and answer["modelVersionId"] == MODEL_VERSION
    assert answer["model"] == "support-assistant" and isinstance(answer["requestId"], int)
    prediction = answer["predictions"][0]
    assert prediction["model_version"] == MODEL_VERSION and prediction["prompt_version"] == "1.0.0"
    for key in ("tokens_in", "tokens_out", "latency_ms", "text"):
        assert key in prediction


def test_prompt_only_canary_and_observed_split(admin, merged_model, serving_storage, ids):
    champion = ids["champion"]
    with pytest.raises(EndpointError, match="unknown deployed model id '999'"):
        admin.deploy(
            "v-test-2", merged_model.as_uri(), "support_assistant@1.1.0", traffic_split={"0": 30, "999": 70}
        )
    version2 = copy_version(serving_storage, "v-test-2")
    result = admin.deploy(
        "v-test-2", version2.as_uri(), "support_assistant@1.1.0", traffic_split={"0": 30, champion: 70}
    )
    ids["challenger"] = challenger = result["deployed_model"]["id"]
    assert result["traffic_split"] == {champion: 70, challenger: 30}
    seen = {champion: 0, challenger: 0}
    prompts = {}
    for _ in range(150):
        answer = admin.predict(ASK, GREEDY)
        seen[answer["deployedModelId"]] += 1
        prompts[answer["deployedModelId"]] = answer["predictions"][0]["prompt_version"]
    assert 20 <= seen[challenger] <= 70, seen  # 30% of 150 = 45 expected; far outside means routing is wrong
    assert prompts == {champion: "1.0.0", challenger: "1.1.0"}
    targeted = admin.predict(ASK, GREEDY, deployed_model_id=challenger)
    assert targeted["deployedModelId"] == challenger
    with pytest.raises(EndpointError) as err:
        admin.predict(ASK, GREEDY, deployed_model_id="12345")
    assert err.value.status == 404 and err.value.field == "deployed_model_id"


def test_bad_predictions_are_4xx_and_logged_errors_are_counted(endpoint, admin):
    for body in (b"nope", b"[]", b'{"instances": []}', b'{"instances": "x"}'):
        answer = httpx.post(endpoint.url + "/v1/predict", content=body)
        assert answer.status_code == 400, answer.text
    answer = httpx.post(endpoint.url + "/v1/predict", json={"instances": [{"bogus": 1}]})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "instances[0].bogus"
    assert httpx.get(endpoint.url + "/nothing").status_code == 404
    assert admin.health()["status"] == "ready"


def test_traffic_split_changes_are_validated_before_anything_changes(admin, ids):
    champion, challenger = ids["champion"], ids["challenger"]
    before = admin.get()["traffic_split"]
    for split, message in (
        ({champion: 60, challenger: 30}, "must sum to 100"),
        ({champion: 50, "42": 50}, "unknown deployed model id '42'"),
        ({champion: 50.5, challenger: 49.5}, "integer percent"),
    ):
        with pytest.raises(EndpointError, match=message) as err:
            admin.set_traffic_split(split)
        assert err.value.status == 400 and err.value.field == "traffic_split"
    assert admin.get()["traffic_split"] == before
    assert admin.set_traffic_split({champion: 50, challenger: 50})["traffic_split"] == {
        champion: 50,
        challenger: 50,
    }


def test_feedback_goes_to_the_warehouse_with_the_log(endpoint, admin, home, ids):
    answer = admin.predict(ASK, GREEDY, deployed_model_id=ids["challenger"])
    request_id = answer["requestId"]
    assert admin.feedback(request_id, 1, "helpful")["model_version"] == "v-test-2"
    for body, field in (
        ({"request_id": 1, "rating": 1}, "request_id"),
        ({"request_id": request_id, "rating": 5}, "rating"),
        ({"request_id": "abc", "rating": 1}, "request_id"),
        ({"request_id": request_id, "rating": 1, "stars": 3}, "stars"),
    ):
        reply = httpx.post(endpoint.url + "/v1/feedback", json=body)
        assert reply.status_code in (400, 404) and reply.json()["error"]["field"] == field, reply.text
    stats = admin.flush()
    assert stats["flushed"] and stats["pending_rows"] == 0
    rows = query(
        home,
        "SELECT endpoint, deployed_model_id, logging_time, request_payload, response_payload "
        "FROM prediction_log WHERE request_id = ?",
        [request_id],
    )
    assert len(rows) == 1
    name, deployed, logged_at, request_payload, response_payload = rows[0]
    assert (name, deployed) == (NAME, ids["challenger"]) and logged_at is not None
    assert [json.loads(x) for x in request_payload] == ASK
    logged = json.loads(response_payload[0])
    assert logged["model_version"] == "v-test-2" and logged["prompt_version"] == "1.1.0"
    assert {"tokens_in", "tokens_out", "latency_ms"} <= set(logged)
    feedback = query(
        home, "SELECT model_version, rating, comment FROM feedback WHERE request_id = ?", [request_id]
    )
    assert feedback == [("v-test-2", 1, "helpful")]
    total = query(home, "SELECT count(*), count(DISTINCT request_id) FROM prediction_log")[0]
    assert total[0] == total[1] and total[0] >= 150  # every request logged once (sampling rate 1.0)
    errors = query(home, "SELECT count(*) FROM prediction_log WHERE response_payload[1] LIKE '%\"error\"%'")[
        0
    ][0]
    assert errors >= 1  # the bad instance that reached a container is logged as an error answer


def test_undeploy_needs_the_new_split_while_the_model_takes_traffic(admin, ids):
    champion, challenger = ids["champion"], ids["challenger"]
    with pytest.raises(EndpointError, match="still takes 50% of traffic") as err:
        admin.undeploy(challenger)
    assert err.value.field == "traffic_split"
    with pytest.raises(EndpointError) as err:
        admin.undeploy("31337")
    assert err.value.status == 404
    assert admin.undeploy(challenger, {champion: 100}) == {
        "undeployed": challenger,
        "traffic_split": {champion: 100},
    }
    assert [m["id"] for m in admin.get()["deployed_models"]] == [champion]


def test_state_survives_a_restart_and_shutdown_flushes_the_log(
    endpoint, home, merged_model, serving_storage, ids
):
    with endpoint.client() as client:
        version3 = copy_version(serving_storage, "v-test-3")
        added = client.deploy(
            "v-test-3",
            version3.as_uri(),
            "support_assistant@1.0.0",
            traffic_split={"0": 20, ids["champion"]: 80},
        )["deployed_model"]["id"]
        before = client.get()
        last = client.predict(ASK, GREEDY)["requestId"]  # buffered: the flush interval is 60 s
    assert endpoint.stop() == 0
    assert query(home, "SELECT count(*) FROM prediction_log WHERE request_id = ?", [last])[0][0] == 1
    saved = json.loads((endpoint.directory / "state.json").read_text())
    assert saved["traffic_split"] == {ids["champion"]: 80, added: 20}
    restarted = start(home, endpoint.port)
    try:
        with restarted.client() as client:
            after = client.get()
            assert after["traffic_split"] == before["traffic_split"]
            assert [(m["id"], m["model_version"], m["prompt"]) for m in after["deployed_models"]] == [
                (m["id"], m["model_version"], m["prompt"]) for m in before["deployed_models"]
            ]
            assert all(m["status"] == "running" for m in after["deployed_models"])
            assert client.predict(ASK, GREEDY, deployed_model_id=added)["modelVersionId"] == "v-test-3"
    finally:
        restarted.stop()
    assert not os.environ.get("LLMOPS_ENDPOINT_TOKEN")
