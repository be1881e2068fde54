"""The try-it page's "did you mean" in a real browser (Debian's headless Chromium, as in
tests/test_browser.py, whose server, browser and helpers it uses): shown, readable, accessible."""

import pytest

from tests import test_browser as real_browser  # skips this module too where none is installed

pytestmark = pytest.mark.slow  # drives chromium

server = real_browser.server  # its fixtures: the service over HTTP, headless Chromium
browser = real_browser.browser
By, until = real_browser.By, real_browser.until


def test_a_misspelt_medication_is_shown_unchecked_with_did_you_mean(server, browser):
    browser.get(server.root + "/")
    real_browser.fill_row(browser, 1, "warfrin", "new")
    real_browser.fill_row(browser, 2, "ibuprofen", "current")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait = real_browser.WebDriverWait(browser, real_browser.WAIT_S)
    wait.until(until.presence_of_element_located((By.ID, "unmapped")))

    section = browser.find_element(By.ID, "unmapped")
    assert "could not be recognised" in section.text
    assert "did you mean warfarin" in section.text
    suggested = [s.text for s in section.find_elements(By.CSS_SELECTOR, ".suggestion")]
    assert suggested[0] == "warfarin"
    cards = browser.find_element(By.ID, "cards").text
    assert "could not be checked: warfrin" in cards  # the hook's own answer guessed nothing
    real_browser.assert_quiet_console(browser)
    real_browser.screenshot(browser, "try-it-did-you-mean")
    assert real_browser.axe_violations(browser) == []
