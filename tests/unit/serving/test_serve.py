"""The serving container: its environment contract, the predict contract, bad inputs, health under load."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from llmops_trainer.serve import ServeConfigError, create_app, load_model_and_prompt, parse_config
from tests.unit.serving.conftest import MODEL_VERSION
from tests.unit.trainer.conftest import subprocess_env

PREDICTION_FIELDS = {
    "text",
    "model_version",
    "prompt_version",
    "prompt",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "finish_reason",
}


def test_config_follows_the_vertex_environment(merged_model, serving_storage):
    env = {
        "AIP_HTTP_PORT": "9123",
        "AIP_HEALTH_ROUTE": "/h",
        "AIP_PREDICT_ROUTE": "/p",
        "AIP_STORAGE_URI": merged_model.as_uri(),
        "LLMOPS_PROMPT_ROOT": serving_storage.as_uri(),
    }
    config = parse_config([], env)
    assert (config.port, config.health_route, config.predict_route) == (9123, "/h", "/p")
    assert config.model_version == MODEL_VERSION  # from models/<version>/merged
    assert config.prompt == "support_assistant@1.0.0"  # from the model card beside the merged folder
    override = parse_config(["--prompt", "support_assistant@1.1.0", "--port", "80"], env)
    assert (override.prompt, override.port) == ("support_assistant@1.1.0", 80)
    assert parse_config([], {**env, "LLMOPS_MODEL_VERSION": "v9"}).model_version == "v9"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set AIP_STORAGE_URI"),
        ({"AIP_STORAGE_URI": "/nowhere/weights"}, "set LLMOPS_MODEL_VERSION"),
        ({"AIP_STORAGE_URI": "/x/models/v1/merged"}, "no prompt: set LLMOPS_PROMPT"),
        (
            {
                "AIP_STORAGE_URI": "/x/models/v1/merged",
                "LLMOPS_PROMPT": "p@1.0.0",
                "AIP_HEALTH_ROUTE": "health",
            },
            "AIP_HEALTH_ROUTE='health' must start with '/'",
        ),
        (
            {"AIP_STORAGE_URI": "/x/models/v1/merged", "LLMOPS_PROMPT": "p@1.0.0", "AIP_HTTP_PORT": "70000"},
            "is not a port number",
        ),
    ],
)
def test_config_errors_name_the_variable(env, message):
    with pytest.raises(ServeConfigError, match=message.replace("(", r"\(")):
        parse_config([], env)


@pytest.fixture(scope="module")
def client(merged_model, serving_storage):
    from fastapi.testclient import TestClient

    config = parse_config(
        ["--threads", "1"],
        {"AIP_STORAGE_URI": merged_model.as_uri(), "LLMOPS_PROMPT_ROOT": serving_storage.as_uri()},
    )
    with TestClient(create_app(config, load_model_and_prompt)) as test_client:
        deadline = time.monotonic() + 120
        while test_client.get("/v1/health").status_code != 200:
            assert time.monotonic() < deadline, test_client.get("/v1/health").json()
            time.sleep(0.05)
        yield test_client


GREEDY = {"temperature": 0, "max_new_tokens": 6}


def test_predict_contract_variables_and_chat(client):
    body = {
        "instances": [
            {"instruction": "How much is the Plus plan?"},
            {"instruction": "Can I get a refund?", "input": "Plan: Basic"},
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "How do I cancel?"},
                ]
            },
        ],
        "parameters": GREEDY,
    }
    answer = client.post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == 3
    for p in predictions:
        assert set(p) == PREDICTION_FIELDS
        assert p["model_version"] == MODEL_VERSION and p["prompt_version"] == "1.0.0"
        assert p["prompt"] == "support_assistant@1.0.0"
        assert p["tokens_in"] > 20 and 0 <= p["tokens_out"] <= 6 and p["latency_ms"] > 0
        assert p["finish_reason"] in ("eos", "stop", "length") and isinstance(p["text"], str)
    # the chat form renders exactly like the variables form with the transcript as input
    chat = client.post("/v1/predict", json={"instances": [body["instances"][2]], "parameters": GREEDY}).json()
    same = client.post(
        "/v1/predict",
        json={
            "instances": [{"instruction": "How do I cancel?", "input": "Customer: Hi\nAgent: Hello!"}],
            "parameters": GREEDY,
        },
    ).json()
    assert chat["predictions"][0]["text"] == same["predictions"][0]["text"]
    assert chat["predictions"][0]["tokens_in"] == same["predictions"][0]["tokens_in"]
    # greedy decoding is deterministic, alone or batched with others
    again = client.post("/v1/predict", json=body).json()["predictions"]
    assert [p["text"] for p in again] == [p["text"] for p in predictions]


def test_tokens_in_counts_the_training_tokenisation(client, merged_model):
    from transformers import AutoTokenizer

    from llmops_factory.prompts import load_prompt, render

    tokenizer = AutoTokenizer.from_pretrained(merged_model)
    text = render(
        load_prompt("support_assistant@1.0.0"), {"instruction": "Is there a student discount?"}
    ).text
    expected = 1 + len(tokenizer(text, add_special_tokens=False)["input_ids"])  # BOS + prompt, as in training
    answer = client.post(
        "/v1/predict",
        json={"instances": [{"instruction": "Is there a student discount?"}], "parameters": GREEDY},
    ).json()
    assert answer["predictions"][0]["tokens_in"] == expected


def test_parameters_override_within_the_prompts_limits(client):
    one = client.post(
        "/v1/predict",
        json={"instances": [{"instruction": "Hello"}], "parameters": {"max_new_tokens": 1, "temperature": 0}},
    ).json()
    assert one["predictions"][0]["tokens_out"] <= 1
    sampled = client.post(
        "/v1/predict",
        json={
            "instances": [{"instruction": "Hello"}] * 2,
            "parameters": {"max_new_tokens": 4, "temperature": 1.5, "top_p": 0.5, "stop": ["."]},
        },
    )
    assert sampled.status_code == 200 and all("." not in p["text"] for p in sampled.json()["predictions"])


BAD = [
    (b"", 400, ""),
    (b"{not json", 400, ""),
    (b"\xff\xfe", 400, ""),
    (b"[1, 2]", 400, ""),
    (b'{"instances": NaN}', 400, ""),
    (b"[" * 100_000 + b"]" * 100_000, 400, ""),
    ({"instance": []}, 400, "instance"),
    ({}, 400, "instances"),
    ({"instances": {}}, 400, "instances"),
    ({"instances": []}, 400, "instances"),
    ({"instances": [{"instruction": "hi"}] * 33}, 400, "instances"),
    ({"instances": ["hi"]}, 400, "instances[0]"),
    ({"instances": [{}]}, 400, "instances[0]"),
    ({"instances": [{"question": "hi"}]}, 400, "instances[0].question"),
    ({"instances": [{"instruction": 5}]}, 400, "instances[0]"),
    ({"instances": [{"input": "context only"}]}, 400, "instances[0]"),
    ({"instances": [{"instruction": "hi"}, {"instruction": "x" * 3000}]}, 400, "instances[1]"),
    ({"instances": [{"messages": []}]}, 400, "instances[0].messages"),
    (
        {
            "instances": [
                {"messages": [{"role": "system", "content": "be rude"}, {"role": "user", "content": "hi"}]}
            ]
        },
        400,
        "instances[0].messages[0].role",
    ),
    (
        {
            "instances": [
                {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
            ]
        },
        400,
        "instances[0].messages[1].role",
    ),
    (
        {"instances": [{"messages": [{"role": "user", "content": ""}]}]},
        400,
        "instances[0].messages[0].content",
    ),
    (
        {"instances": [{"messages": [{"role": "user", "content": "hi", "name": "x"}]}]},
        400,
        "instances[0].messages[0].name",
    ),
    (
        {"instances": [{"messages": [{"role": "user", "content": "hi"}], "instruction": "x"}]},
        400,
        "instances[0].instruction",
    ),
    ({"instances": [{"instruction": "hi"}], "parameters": []}, 400, "parameters"),
    (
        {"instances": [{"instruction": "hi"}], "parameters": {"max_new_tokens": 0}},
        400,
        "parameters.max_new_tokens",
    ),
    (
        {"instances": [{"instruction": "hi"}], "parameters": {"max_new_tokens": 257}},
        400,
        "parameters.max_new_tokens",
    ),
    (
        {"instances": [{"instruction": "hi"}], "parameters": {"max_new_tokens": 2.5}},
        400,
        "parameters.max_new_tokens",
    ),
    ({"instances": [{"instruction": "hi"}], "parameters": {"temperature": 3}}, 400, "parameters.temperature"),
    (
        {"instances": [{"instruction": "hi"}], "parameters": {"temperature": "hot"}},
        400,
        "parameters.temperature",
    ),
    ({"instances": [{"instruction": "hi"}], "parameters": {"top_p": 0}}, 400, "parameters.top_p"),
    ({"instances": [{"instruction": "hi"}], "parameters": {"stop": [1]}}, 400, "parameters.stop[0]"),
    ({"instances": [{"instruction": "hi"}], "parameters": {"stop": ["x"] * 9}}, 400, "parameters.stop"),
    ({"instances": [{"instruction": "hi"}], "parameters": {"seed": 1}}, 400, "parameters.seed"),
    ({"instances": [{"instruction": "hi"}], "parameters": {}, "extra": 1}, 400, "extra"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_is_a_4xx_naming_the_field(client, body, status, field):
    if isinstance(body, bytes):
        answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    else:
        answer = client.post("/v1/predict", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == status and error["message"]
    assert error.get("field", "") == field


def test_oversized_body_unknown_route_and_method_are_4xx(client):
    big = client.post("/v1/predict", content=b'{"instances": ["' + b"x" * 1_100_000 + b'"]}')
    assert big.status_code == 413 and "over the limit" in big.json()["error"]["message"]
    assert client.get("/v1/nothing").status_code == 404
    assert "predict is POST /v1/predict" in client.get("/v1/nothing").json()["error"]["message"]
    assert client.get("/v1/predict").status_code == 405
    assert (
        client.post(
            "/v1/predict", json={"instances": [{"instruction": "still up?"}], "parameters": GREEDY}
        ).status_code
        == 200
    )


def test_container_process_health_is_not_blocked_by_generation(merged_model, serving_storage, tmp_path):
    """The entrypoint as Vertex AI runs it: AIP_* environment, 503 while loading, health answers during work."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = subprocess_env(
        AIP_HTTP_PORT=str(port),
        AIP_HEALTH_ROUTE="/health-check",
        AIP_PREDICT_ROUTE="/predict-it",
        AIP_STORAGE_URI=merged_model.as_uri(),
        LLMOPS_PROMPT_ROOT=serving_storage.as_uri(),
        LLMOPS_SERVE_HOST="127.0.0.1",
        LLMOPS_SERVE_THREADS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_trainer", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        statuses = []
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    statuses.append(http.get(base + "/health-check").status_code)
                except httpx.HTTPError:
                    pass
                if statuses and statuses[-1] == 200:
                    break
                time.sleep(0.05)
            assert statuses and statuses[-1] == 200 and set(statuses) <= {200, 503}
            results = []

            def long_request():
                body = {
                    "instances": [{"instruction": f"Tell me about plan {i}"} for i in range(8)],
                    "parameters": {"max_new_tokens": 100, "temperature": 0, "stop": ["@@never@@"]},
                }
                results.append(httpx.post(base + "/predict-it", json=body, timeout=120))

            workers = [threading.Thread(target=long_request) for _ in range(3)]
            for w in workers:
                w.start()
            time.sleep(0.3)
            health_times = []
            while any(w.is_alive() for w in workers):
                t0 = time.perf_counter()
                assert http.get(base + "/health-check").status_code == 200
                health_times.append(time.perf_counter() - t0)
                time.sleep(0.05)
            for w in workers:
                w.join()
        assert [r.status_code for r in results] == [200, 200, 200]
        assert max(health_times) < 1.0, health_times  # health stayed responsive while generating
        assert all(len(r.json()["predictions"]) == 8 for r in results)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode in (0, -15) and "Application shutdown complete" in out, (
        out
    )  # uvicorn re-raises SIGTERM


def test_container_exits_2_naming_a_missing_prompt(merged_model, serving_storage):
    env = subprocess_env(
        AIP_STORAGE_URI=merged_model.as_uri(),
        LLMOPS_PROMPT_ROOT=serving_storage.as_uri(),
        LLMOPS_PROMPT="support_assistant@9.9.9",
        AIP_HTTP_PORT="1",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "llmops_trainer", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "support_assistant" in proc.stderr and "9.9.9" in proc.stderr


def test_health_body_names_the_model_and_prompt(client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ready" and body["model_version"] == MODEL_VERSION
    assert body["prompt"] == "support_assistant@1.0.0"
    json.dumps(body)
