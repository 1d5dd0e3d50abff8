"""The Airflow UI in headless Chromium, on the system test's running Airflow: log in, open every
DAG's trigger form (Trigger must be enabled with the defaults), a run's grid and a DAG's Docs.

Chromium and its driver come from Debian (``chromium``, ``chromium-driver``): installed here with
apt-get where missing and possible, otherwise the tests skip with the reason. Screenshots land in
``build/test-artifacts/system/ui/``.
"""

from __future__ import annotations

import urllib.parse

import pytest

from tests.browser import chromium_paths
from tests.system.conftest import ARTIFACTS, REPO

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore")]

WAIT_S = 60


@pytest.fixture(scope="module")
def shots():
    folder = ARTIFACTS / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(cluster, shots):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        _login(driver, cluster, shots)
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, what: str, timeout: float = WAIT_S):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what} on {driver.current_url}") from None


def _visible_text(driver, text: str):
    from selenium.webdriver.common.by import By

    def check(d):
        return text in d.find_element(By.TAG_NAME, "body").text

    return check


def _login(driver, cluster, shots) -> None:
    from local_cluster import PASSWORD, USER
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{cluster.base_url}/")
    password = _wait(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"), "the login form"
    )[0]
    username = driver.find_elements(By.CSS_SELECTOR, "input:not([type=password])")[0]
    username.send_keys(USER)
    password.send_keys(PASSWORD, Keys.ENTER)
    _wait(
        driver, lambda d: "/auth/login" not in d.current_url and "login" not in d.current_url.lower(), "login"
    )
    _wait(driver, _visible_text(driver, "Dags"), "the home page after login")
    driver.save_screenshot(str(shots / "00-home.png"))


def _button(driver, text: str, *, in_dialog: bool = False):
    from selenium.webdriver.common.by import By

    scope = "//*[@role='dialog']" if in_dialog else ""
    # by its text, or by its accessible name (icon buttons such as Dag Docs)
    xpath = f"{scope}//button[normalize-space(.)='{text}' or @aria-label='{text}' or @title='{text}']"
    return _wait(
        driver,
        lambda d: [b for b in d.find_elements(By.XPATH, xpath) if b.is_displayed()],
        f"button {text!r}",
    )[0]


def _titles(schema) -> list[str]:
    """Every ``title`` in a DAG's params as the API returns them (the form shows them as labels)."""
    if isinstance(schema, dict):
        own = [schema["title"]] if isinstance(schema.get("title"), str) else []
        return own + [t for v in schema.values() for t in _titles(v)]
    if isinstance(schema, list):
        return [t for v in schema for t in _titles(v)]
    return []


@pytest.mark.parametrize("dag_id", sorted(p.stem for p in (REPO / "dags").glob("*.py")))
def test_trigger_form_can_be_submitted_with_its_defaults(cluster, browser, shots, dag_id):
    titles = _titles(cluster.get(f"/api/v2/dags/{dag_id}/details").get("params"))
    browser.get(f"{cluster.base_url}/dags/{dag_id}")
    _button(browser, "Trigger").click()
    submit = _button(browser, "Trigger", in_dialog=True)
    _wait(browser, _visible_text(browser, "Trigger Dag"), "the trigger form")
    # the Run Parameters section renders every Param of the DAG as a form field (a DAG without Params,
    # such as the daily monitoring, has no such section)
    if titles:
        section = _button(browser, "Run Parameters", in_dialog=True)
        if section.get_attribute("aria-expanded") == "false":
            section.click()
    for title in titles:
        _wait(browser, _visible_text(browser, title), f"the field {title!r} of the {dag_id} form")
    from selenium.webdriver.common.by import By

    browser.save_screenshot(str(shots / f"10-trigger-form-{dag_id}.png"))
    dialog = browser.find_element(By.XPATH, "//*[@role='dialog']").text
    assert "This field is required" not in dialog, dialog
    assert submit.is_enabled(), f"Trigger is disabled in the {dag_id} form with its defaults:\n{dialog}"


def test_dag_docs_show_the_runbook(cluster, browser, shots):
    browser.get(f"{cluster.base_url}/dags/llmops_data_prep")
    _button(browser, "Dag Docs").click()
    _wait(browser, _visible_text(browser, "Failures and what to do"), "the runbook in the Docs dialog")
    browser.save_screenshot(str(shots / "20-docs-llmops_data_prep.png"))


def test_run_grid_shows_the_tasks(cluster, browser, shots):
    runs = cluster.get(
        "/api/v2/dags/llmops_data_prep/dagRuns", params={"limit": 1, "order_by": "-start_date"}
    )
    if not runs["dag_runs"]:
        pytest.skip("no data-prep run yet (run together with tests/system/test_scheduler.py)")
    run_id = runs["dag_runs"][0]["dag_run_id"]
    browser.get(f"{cluster.base_url}/dags/llmops_data_prep/runs/{urllib.parse.quote(run_id, safe='')}")
    _wait(browser, _visible_text(browser, "validate_dataset"), "the run's grid with its tasks")
    browser.save_screenshot(str(shots / "30-run-grid-llmops_data_prep.png"))


def test_review_page_is_reachable_from_the_navigation(cluster, browser, shots):
    """Browse → Review (the plugin's nav entry) opens the Review page inside the UI, signed in."""
    from selenium.webdriver.common.by import By

    browser.get(f"{cluster.base_url}/")
    _wait(browser, _visible_text(browser, "Dags"), "the home page")
    _button(browser, "Browse").click()
    entry = _wait(
        browser,
        lambda d: [
            e
            for e in d.find_elements(
                By.XPATH, "//*[@role='menuitem' or self::a][normalize-space(.)='Review']"
            )
            if e.is_displayed()
        ],
        "the Review entry of the Browse menu",
    )[0]
    entry.click()
    _wait(browser, lambda d: "llmops-review" in d.current_url, "the Review page's route")
    frame = _wait(
        browser,
        lambda d: [
            f
            for f in d.find_elements(By.TAG_NAME, "iframe")
            if "llmops-review" in (f.get_attribute("src") or "")
        ],
        "the Review page's frame",
    )[0]
    browser.switch_to.frame(frame)
    try:
        _wait(browser, _visible_text(browser, "Review model answers"), "the Review page in its frame")
        body = browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "40-review-page.png"))
    assert "answers wait for a rating" in body, body[:2000]
