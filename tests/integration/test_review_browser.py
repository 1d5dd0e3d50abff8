"""The Review page in a real headless Chromium, served by a real Airflow api-server with the plugin.

The api-server runs on a free port with its own Airflow home (simple auth manager, user ``reviewer``),
on this test session's platform home; the test signs in through the REST API (``/auth/token``), hands
the browser the UI's ``_token`` cookie, rates one answer and submits one out-of-range rating. Chromium
and its driver come from Debian (``chromium``, ``chromium-driver``): installed with apt-get where missing
and possible, else the test skips with the reason. A screenshot lands in ``build/test-artifacts/review/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser import chromium_paths

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore")]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts" / "review"
MV = "browser-test-mv"
WAIT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, platform_home):
    import httpx

    airflow_home = tmp_path_factory.mktemp("review-airflow")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reviewer:admin",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "LLMOPS_LOCAL__HOME": str(platform_home),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run(
        ["timeout", "-s", "KILL", "300", airflow, "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    log = (airflow_home / "api-server.log").open("w")
    proc = subprocess.Popen(
        ["timeout", "-s", "KILL", "900", airflow, "api-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (airflow_home / "api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "api-server did not become healthy in 180 s"
            time.sleep(2)
        passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
        token = httpx.post(
            f"{base}/auth/token", json={"username": "reviewer", "password": passwords["reviewer"]}, timeout=30
        ).json()["access_token"]
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def queue():
    from llmops_plugins.platform import get_platform
    from llmops_plugins.stages.evaluation import replace_rows, replace_rows_many

    platform = get_platform()
    when = dt.datetime(2026, 1, 4, tzinfo=dt.UTC)
    items = [f"{MV}:q{n}" for n in range(2)]
    for item in items:
        replace_rows(platform, "review_labels", {"item_id": item, "reviewer": "reviewer"}, [])
    replace_rows_many(
        platform,
        "review_queue",
        [
            {
                "item_id": item,
                "model_version": MV,
                "prompt_version": "support_assistant@1.0.0",
                "prompt_text": "How long is the free trial?",
                "response": "The free trial lasts 14 days.",
                "reference": "New customers get a 14-day free trial of the Plus plan.",
                "intent": "trial",
                "reason": "stratified",
                "auto_scores": '{"rouge_l": 0.41}',
                "status": "pending",
                "created_at": when,
                "dag_run_id": "browser-test",
            }
            for item in items
        ],
    )
    return items


def test_review_page_rates_and_refuses_in_chromium(server, queue):
    import httpx

    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, token = server
    plugins = httpx.get(
        f"{base}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    review = next(p for p in plugins["plugins"] if p["name"] == "llmops_review")
    assert review["fastapi_apps"][0]["url_prefix"] == "/llmops-review"
    assert review["external_views"][0]["name"] == "Review"

    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.get(f"{base}/llmops-review/?model_version={MV}")
        driver.add_cookie({"name": "_token", "value": token, "path": "/"})
        driver.get(f"{base}/llmops-review/?model_version={MV}")
        wait = WebDriverWait(driver, WAIT_S)
        first = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'form[data-item="{queue[0]}"]')))
        assert "How long is the free trial?" in first.text
        Select(first.find_element(By.NAME, "rating")).select_by_value("5")
        first.find_element(By.CSS_SELECTOR, 'input[name="correctness"][value="correct"]').click()
        first.find_element(By.CSS_SELECTOR, 'input[name="safety"][value="safe"]').click()
        first.find_element(By.NAME, "comment").send_keys("right answer")
        first.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "Saved" in first.find_element(By.CLASS_NAME, "msg").text)
        assert first.find_element(By.CLASS_NAME, "msg").text == "Saved: rating 5 by reviewer"

        second = driver.find_element(By.CSS_SELECTOR, f'form[data-item="{queue[1]}"]')
        # a tampered form (rating 9) is refused by the server with a message the reviewer sees
        driver.execute_script(
            "arguments[0].querySelector('select').options[0].value = '9';"
            "arguments[0].querySelector('select').selectedIndex = 0;",
            second,
        )
        second.find_element(By.CSS_SELECTOR, 'input[name="correctness"][value="incorrect"]').click()
        second.find_element(By.CSS_SELECTOR, 'input[name="safety"][value="unsafe"]').click()
        second.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        msg = second.find_element(By.CLASS_NAME, "msg")
        wait.until(lambda d: msg.text)
        assert "'rating' must be an integer 1-5, got '9'" in msg.text and "err" in msg.get_attribute("class")
        driver.save_screenshot(str(ARTIFACTS / "review-page.png"))
    finally:
        driver.quit()

    from llmops_plugins.platform import get_platform

    rows = (
        get_platform()
        .warehouse()
        .rows(
            "review_labels",
            ["item_id", "reviewer", "rating", "correctness", "simulated", "comment"],
            model_version=MV,
        )
    )
    assert rows == [
        {
            "item_id": queue[0],
            "reviewer": "reviewer",
            "rating": 5,
            "correctness": "correct",
            "simulated": False,
            "comment": "right answer",
        }
    ]
