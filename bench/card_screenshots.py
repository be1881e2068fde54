"""Screenshots of cards as an EHR draws them: the try-it page, filled in a real Chromium.

    .venv/bin/python bench/card_screenshots.py [--out docs/cards]

Starts `ddi-cds serve --no-auth` on a free loopback port, enters each example (new orders and
current medications, as a prescriber would), and saves the pair's card to `<out>/<name>.png`,
cropped to the card with its suggestions opened. Needs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.ui import Select, WebDriverWait

from cds_service.testing.served_process import start_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 20


@dataclass(frozen=True)
class Example:
    name: str
    medications: tuple[tuple[str, str], ...]  # (what the prescriber types, "new" | "current")
    summary_starts: str  # the card to capture


EXAMPLES = (
    Example(
        "warfarin-ibuprofen",
        (("warfarin [RxNorm 11289]", "new"), ("ibuprofen [RxNorm 5640]", "current")),
        "Warfarin + ibuprofen",
    ),
    Example(
        "simvastatin-clarithromycin",
        (("simvastatin [RxNorm 36567]", "current"), ("clarithromycin [RxNorm 21212]", "new")),
        "Clarithromycin + simvastatin",
    ),
    Example(
        "digoxin-cyclosporine",
        (("digoxin [RxNorm 3407]", "current"), ("cyclosporine [RxNorm 3008]", "new")),
        "Cyclosporine + digoxin",
    ),
)


def chromium() -> WebDriver:
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=900,1400",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no internet
    ):
        options.add_argument(argument)
    os.environ.setdefault("SE_OFFLINE", "true")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    return driver


def draw(driver: WebDriver, root: str, example: Example) -> WebElement:
    driver.get(root + "/")
    for row, (text, role) in enumerate(example.medications, start=1):
        if not driver.find_elements(By.ID, f"medication-{row}"):
            driver.find_element(By.ID, "add-row").click()
        box = driver.find_element(By.ID, f"medication-{row}")
        box.clear()
        box.send_keys(text)
        Select(driver.find_element(By.ID, f"role-{row}")).select_by_value(role)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(until.presence_of_element_located((By.ID, "cards")))
    for card in driver.find_elements(By.CSS_SELECTOR, "article.card"):
        if card.find_element(By.CSS_SELECTOR, ".summary").text.startswith(example.summary_starts):
            for suggestion in card.find_elements(By.CSS_SELECTOR, "details.suggestion"):
                driver.execute_script("arguments[0].open = true", suggestion)
            driver.execute_script("arguments[0].scrollIntoView()", card)
            return card
    summaries = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "article.card .summary")]
    raise SystemExit(f"{example.name}: no card starting {example.summary_starts!r}: {summaries}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "cards")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir), no_auth=True)
        driver = chromium()
        try:
            for example in EXAMPLES:
                path = args.out / f"{example.name}.png"
                assert draw(driver, server.root, example).screenshot(str(path))
                print(f"{example.name}: {path}")
        finally:
            driver.quit()
            server.stop()


if __name__ == "__main__":
    main()
