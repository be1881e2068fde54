"""The pages in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`),
driven by Selenium, against the service running as `ddi-cds serve` over HTTP.

The browser can resolve no host but this one (`--host-resolver-rules`), so a page that needed
the internet would show it here. Accessibility is checked with axe-core (WCAG 2 A and AA rules,
from the `selenium-axe-python` package's copy: nothing is downloaded) and by hand for keyboard
use. Screenshots go to `test-artifacts/` (or `$DDI_CDS_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from cds_service.testing.served_process import ServerProcess, start_server

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("DDI_CDS_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 20
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    message = (
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only where a browser is installed
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as until  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow  # drives chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("browser-server"), no_auth=True)
    try:
        yield process
    finally:
        process.stop()


def chromium(javascript: bool = True) -> WebDriver:
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no internet
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser_without_javascript() -> Iterator[WebDriver]:
    driver = chromium(javascript=False)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(1024, height), 6000))  # the whole page in one shot
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1024)
    return path


def assert_quiet_console(driver: WebDriver) -> None:
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def loaded_only_from(driver: WebDriver, root: str) -> None:
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(name.startswith(root) for name in names), names


def axe_violations(driver: WebDriver) -> list[str]:
    source = resources.files("selenium_axe_python").joinpath("axe-core/axe.min.js").read_text()
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        "  .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' ('"
        "    + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')))"
        "  .catch(e => done(['axe failed: ' + e]));",
        AXE_TAGS,
    )
    return list(result)


def fill_row(driver: WebDriver, row: int, text: str, role: str) -> None:
    box = driver.find_element(By.ID, f"medication-{row}")
    box.clear()
    box.send_keys(text)
    Select(driver.find_element(By.ID, f"role-{row}")).select_by_value(role)


def test_the_try_it_page_produces_the_warfarin_ibuprofen_card(server, browser):
    browser.get(server.root + "/")
    fill_row(browser, 1, "warfa", "new")
    wait = WebDriverWait(browser, WAIT_S)

    def offered(driver: WebDriver) -> list[str]:  # the autocomplete, from the drug index
        options = driver.find_elements(By.CSS_SELECTOR, "#medication-names option")
        return [o.get_attribute("value") for o in options]

    wait.until(lambda d: "warfarin [RxNorm 11289]" in offered(d))
    fill_row(browser, 1, "warfarin [RxNorm 11289]", "new")
    fill_row(browser, 2, "ibuprofen", "current")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(until.presence_of_element_located((By.ID, "cards")))

    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    summaries = [c.find_element(By.CSS_SELECTOR, ".summary").text for c in cards]
    card = cards[next(i for i, s in enumerate(summaries) if s.startswith("Warfarin + ibuprofen"))]
    assert "card-warning" in card.get_attribute("class") or "card-critical" in card.get_attribute(
        "class"
    )
    indicator = card.find_element(By.CSS_SELECTOR, ".indicator")
    assert indicator.text in {"WARNING", "CRITICAL"}  # written, not only coloured
    detail = card.find_element(By.CSS_SELECTOR, ".detail")
    assert detail.find_elements(By.TAG_NAME, "strong"), "the detail's Markdown is rendered"
    assert "What to do:" in detail.text and "Sources:" in detail.text
    suggestions = [s.text for s in card.find_elements(By.CSS_SELECTOR, ".suggestion summary")]
    assert any("omeprazole" in s for s in suggestions), suggestions  # the PDDI gastroprotection
    assert any("INR" in s for s in suggestions), suggestions
    raw = browser.find_element(By.ID, "raw-response").get_attribute("textContent")
    assert card.find_element(By.CSS_SELECTOR, ".summary").text in raw
    loaded_only_from(browser, server.root)
    assert_quiet_console(browser)
    screenshot(browser, "try-it-warfarin-ibuprofen")
    assert axe_violations(browser) == []

    explain = card.find_element(By.PARTIAL_LINK_TEXT, "Full evidence and sources")
    explain.click()
    wait.until(until.presence_of_element_located((By.ID, "genes")))
    assert browser.title.startswith("warfarin + ibuprofen")


def tab_to(browser: WebDriver, wanted: str, limit: int = 30) -> list[str]:
    """Press Tab until the element with id `wanted` has the focus; the ids passed on the way."""
    passed = []
    for _ in range(limit):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        passed.append(active.get_attribute("id") or active.text)
        if passed[-1] == wanted:
            return passed
    raise AssertionError(f"Tab never reached #{wanted}: {passed}")


def test_the_try_it_page_can_be_used_with_the_keyboard_alone(server, browser):
    browser.get(server.root + "/")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to the content"
    tab_to(browser, "medication-1")
    browser.switch_to.active_element.send_keys("warfarin")
    tab_to(browser, "medication-2")  # past its role: "a new order" is already chosen
    browser.switch_to.active_element.send_keys("ibuprofen")
    tab_to(browser, "role-2")
    browser.switch_to.active_element.send_keys("a c")  # type-ahead: "a current medication"
    assert Select(browser.find_element(By.ID, "role-2")).first_selected_option.text.startswith(
        "a current"
    )
    assert "add-row" in tab_to(browser, "check")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, WAIT_S).until(until.presence_of_element_located((By.ID, "cards")))
    summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.card .summary")]
    assert any(s.startswith("Warfarin + ibuprofen") for s in summaries), summaries
    outline = browser.execute_script(
        "const e = document.querySelector('#medication-1'); e.focus();"
        "return getComputedStyle(e).outlineStyle"
    )
    assert outline == "solid", "the focus is visible"
    assert_quiet_console(browser)


def test_a_row_added_by_the_script_is_labelled_and_checked(server, browser):
    browser.get(server.root + "/")
    rows = len(browser.find_elements(By.CSS_SELECTOR, "#medication-rows li"))
    browser.find_element(By.ID, "add-row").click()
    added = rows + 1
    box = browser.switch_to.active_element
    assert box.get_attribute("id") == f"medication-{added}"  # the focus moves to the new box
    label = browser.find_element(By.CSS_SELECTOR, f"label[for=medication-{added}]")
    assert label.text == f"Medication {added}"
    fill_row(browser, 1, "warfarin", "new")
    fill_row(browser, added, "ibuprofen", "current")
    browser.find_element(By.ID, "check").click()
    WebDriverWait(browser, WAIT_S).until(until.presence_of_element_located((By.ID, "cards")))
    summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.card .summary")]
    assert any(s.startswith("Warfarin + ibuprofen") for s in summaries), summaries


def test_the_explanation_page_renders_its_charts_without_javascript(
    server, browser_without_javascript
):
    driver = browser_without_javascript
    driver.get(server.root + "/explain?a=11289&b=5640")
    assert driver.title.startswith("warfarin + ibuprofen")
    for chart in ("side-effects", "genes"):
        svg = driver.find_element(By.ID, chart)
        assert svg.size["width"] > 400 and svg.size["height"] > 200, (chart, svg.size)
        bars = svg.find_elements(By.TAG_NAME, "rect")
        assert len(bars) == 10 and all(b.size["width"] >= 1 for b in bars)
    symbols = [
        g.get_attribute("data-symbol") for g in driver.find_elements(By.CSS_SELECTOR, "g.gene")
    ]
    assert all(symbols) and len(symbols) == 10
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "Known interactions (curated sources and reviewed rules)" in text
    assert "not an established interaction" in text
    screenshot(driver, "explain-warfarin-ibuprofen-no-javascript")


def test_the_explanation_page_passes_the_accessibility_rules(server, browser):
    browser.get(server.root + "/explain?a=11289&b=5640")
    loaded_only_from(browser, server.root)
    assert axe_violations(browser) == []


def test_pages_load_nothing_from_elsewhere_and_log_no_error(server, browser):
    for path in ("/?example=1", "/explain?a=11289&b=5640", "/explain?a=11289&b=327361"):
        browser.get(server.root + path)
        loaded_only_from(browser, server.root)
        assert_quiet_console(browser)  # a blocked load or a CSP refusal is logged as an error
