"""The `musictext serve` page in a real headless browser (Debian's chromium and chromium-driver,
driven by selenium): type a query, see results, play one, walk, save a playlist, share a URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", DRIVER)) if not path]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (the dev extra)")
    if missing:
        reason = f"no headless browser here: {', '.join(missing)} missing (.ci/run installs them)"
        if os.environ.get("MUSICTEXT_TEST_TOOLS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=390,844",
    ):
        options.add_argument(flag)  # 390 px wide: a phone
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=60.0, what="the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; status: {driver.find_element('id', 'status').text!r}")


def _responses(driver) -> list[tuple[str, int]]:
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.responseReceived":
            r = msg["params"]["response"]
            out.append((r["url"], int(r["status"])))
    return out


def test_search_play_walk_save_in_a_browser(browser, served_library):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server, _, _, folder = served_library
    browser.get(server.base + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("bright piano", Keys.ENTER)
    results = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "li.result"), what="results")
    assert len(results) >= 3
    first = results[0]
    assert first.find_element(By.CSS_SELECTOR, ".title").text
    assert ":" in first.find_element(By.CSS_SELECTOR, ".meta").text  # the duration
    assert first.find_element(By.CSS_SELECTOR, ".why").text.startswith("why:")
    assert browser.current_url.endswith("/?q=bright%20piano")
    # the page fits a phone's width: nothing wider than the window
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")

    first.find_element(By.CSS_SELECTOR, "button.play").click()
    _wait(
        browser,
        lambda d: d.execute_script(
            "const a = document.getElementById('player'); return !a.paused && a.currentTime > 0 && !a.error"
        ),
        what="the audio to play",
    )
    audio = [(u, s) for u, s in _responses(browser) if "/audio" in u]
    assert audio and all(s in (200, 206) for _, s in audio), audio

    # keyboard: j moves to the next result, m asks for more like it
    browser.find_element(By.TAG_NAME, "body").click()
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    browser.switch_to.active_element.send_keys("m")
    _wait(
        browser, lambda d: re.match(r"\d+ tracks: like ", d.find_element(By.ID, "status").text), what="more like this"
    )

    rows = browser.find_elements(By.CSS_SELECTOR, "li.result")
    first_title = rows[0].find_element(By.CSS_SELECTOR, ".title").text
    rows[0].find_element(By.CSS_SELECTOR, "button.from").click()
    rows[-1].find_element(By.CSS_SELECTOR, "button.to").click()
    browser.find_element(By.ID, "walk").click()
    # "walking from A to B…" while it runs; "N tracks: A to B" once the walk is shown
    _wait(browser, lambda d: re.match(r"\d+ tracks: .+ to ", d.find_element(By.ID, "status").text), what="the walk")
    walked = browser.find_elements(By.CSS_SELECTOR, "li.result")
    assert walked[0].find_element(By.CSS_SELECTOR, ".title").text == first_title

    name = browser.find_element(By.ID, "save-name")
    name.clear()
    name.send_keys("browser mix")
    browser.find_element(By.ID, "save").click()
    _wait(browser, lambda d: "saved" in d.find_element(By.ID, "status").text, what="the saved playlist")
    saved = folder / "browser mix.m3u8"
    assert saved.is_file() and saved.read_text().startswith("#EXTM3U")
    assert len([line for line in saved.read_text().splitlines() if line and not line.startswith("#")]) >= 2


def test_a_search_is_a_shareable_url(browser, served_library):
    from selenium.webdriver.common.by import By

    server, *_ = served_library
    browser.get(server.base + "/?q=rock")
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "li.result"), what="results from the URL")
    assert rows and browser.find_element(By.ID, "q").get_attribute("value") == "rock"
