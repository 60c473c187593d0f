"""The console in a real browser (Debian's Chromium, driven by Selenium): what an operator on call does first.

Sign in; see the overview with one silent source and a backlog; open a quarantined event; replay
it and see it land, its typed row within one screen; find a call's journey by phone number, with a
source for every field. The pictures docs/console.md shows are taken on the way (docs/console*.png).

`make test` installs Debian's chromium and chromium-driver when they are missing; where neither can
be installed the test is skipped, saying so. The driver path is passed explicitly, so Selenium
never downloads a driver of its own.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from console_seed import OPS_TOKEN, QUARANTINED_PHONE, console_app, database_now, scrub, seed
from werkzeug.serving import make_server

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no Chromium: `make test` installs it (apt-get install chromium chromium-driver); "
    "install those two Debian packages to run the real-browser test",
)
# The pictures docs/console.md shows (overview, quarantine, event, journey) are retaken on demand
# (CONSOLE_SCREENSHOTS=docs), so that a plain `make test` leaves the checkout as it found it.
SCREENSHOTS_TO = os.environ.get("CONSOLE_SCREENSHOTS")


@pytest.fixture
def served(env, database_url):
    """The app with the console on, seeded, served on a loopback port by a thread."""
    now = database_now(database_url)
    app = console_app(env, now)
    ids = seed(app.test_client(), database_url, now)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", ids
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["callrecon_pool"].close()
    scrub(database_url, ids)


@pytest.fixture
def browser():
    """Headless Chromium (no sandbox: the tests run as root), driven through Debian's chromedriver."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def shoot(browser, page: str, tmp_path) -> None:
    """The whole page in one picture: docs/console.png for the overview, docs/console-<page>.png for the others."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": 1400, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    name = "console.png" if page == "overview" else f"console-{page}.png"
    shot = Path(SCREENSHOTS_TO) / name if SCREENSHOTS_TO else tmp_path / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def replaced(old) -> bool:
    """Whether the page that held `old` is gone.

    Chromium answers a question about an element of a page being torn down either with "stale
    element" or, mid-navigation, with "Node with given id does not belong to the document"; both
    mean the old page is gone.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        old.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in (error.msg or ""):
            return True
        raise
    return False


def navigate(browser, element) -> None:
    """Click a link or a submit button and wait until the next page has replaced this one.

    A click returns once the browser has it, not once the next page is there: on a busy machine
    (CI) the old page can still be the one asked for elements, which carry the same ids.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 20).until(lambda _: replaced(old))
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_an_operator_signs_in_sees_the_gaps_replays_and_follows_a_call(served, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    base, ids = served
    browser.get(f"{base}/ops/")
    assert "/ops/sign-in" in browser.current_url
    browser.find_element(By.ID, "token").send_keys(OPS_TOKEN)
    navigate(browser, browser.find_element(By.ID, "sign-in"))

    # The overview: Huawei is silent, two Ozonetel callbacks wait for the lander.
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    assert "SILENT" in browser.find_element(By.CSS_SELECTOR, "#push-huawei .silence").text
    assert "SILENT" not in browser.find_element(By.CSS_SELECTOR, "#push-ozonetel .silence").text
    assert browser.find_element(By.CSS_SELECTOR, "#push-ozonetel .backlog").text.startswith("2")
    shoot(browser, "overview", tmp_path)

    # A quarantined event, opened from the quarantine page, replayed, landed.
    navigate(browser, browser.find_element(By.LINK_TEXT, "Quarantine"))
    shoot(browser, "quarantine", tmp_path)
    navigate(browser, browser.find_element(By.LINK_TEXT, str(ids["quarantined"])))
    assert browser.find_element(By.ID, "event-status").text == "quarantined"
    assert '"Apikey": "***"' in browser.find_element(By.ID, "body").text
    navigate(browser, browser.find_element(By.ID, "replay"))
    flash = browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert f"Replayed raw callback {ids['quarantined']}: landed." in flash
    assert browser.find_element(By.ID, "event-status").text == "landed"
    # The typed row it produced: its filled columns as a table, the page (seen again, without the
    # replay's message) within one 1400x1000 screen.
    browser.refresh()
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return document.readyState") == "complete")
    filled = browser.find_elements(By.CSS_SELECTOR, "table.typed td.name")
    assert len(filled) > 10 and filled[0].text == "call_key"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height <= 1000, f"the event page is {height} px tall"
    shoot(browser, "event", tmp_path)

    # The call it carried, found by phone number.
    navigate(browser, browser.find_element(By.LINK_TEXT, "Journey"))
    browser.find_element(By.ID, "journey-q").send_keys(QUARANTINED_PHONE)
    navigate(browser, browser.find_element(By.ID, "journey-search"))
    heading = browser.find_element(By.CSS_SELECTOR, "section.call h2").text
    assert "ozonetel call 2105229999000001" in heading and QUARANTINED_PHONE in heading
    assert "push" in browser.find_element(By.CSS_SELECTOR, "table.timeline").text
    for row in browser.find_elements(By.CSS_SELECTOR, "table.sources tr")[1:-1]:  # every field with a value
        field, value, by = (cell.text for cell in row.find_elements(By.TAG_NAME, "td"))
        assert value == "-" or by != "-", f"{field} has no source"
    shoot(browser, "journey", tmp_path)


@pytest.fixture
def ozonetel_only(env, database_url):
    """An Ozonetel-only install's console (no Huawei setting at all), served on a loopback port, with two
    differently broken callbacks quarantined and one dial-status window its unconfigured source cannot run."""
    import datetime as dt

    import psycopg
    from console_seed import console_env

    from conftest import OZONETEL_TOKEN
    from receiver import create_app
    from receiver.config import Settings
    from receiver.vendors import VENDORS

    now = database_now(database_url)
    settings = {k: v for k, v in console_env(env).items() if not k.startswith("HUAWEI_")}
    app = create_app(Settings.from_env(settings, VENDORS))
    app.config["CALLRECON_CLOCK"] = lambda: now
    client = app.test_client()
    url = f"/callbacks/ozonetel/{OZONETEL_TOKEN}"
    for body in (b'{"Status": "Answered"}', b'{"monitorUCID": "b1", "StartTime": "not a time"}'):
        assert client.post(url, data=body, content_type="application/json").status_code == 202
    with psycopg.connect(database_url, autocommit=True) as conn:
        window = conn.execute(
            "INSERT INTO ozonetel_request (campaign_name, window_from, window_to, state, tries, next_at) "
            "VALUES ('Renewals_Nov', %(at)s, %(at)s + interval '1 hour', 'pending', 0, %(at)s) RETURNING id",
            {"at": now - dt.timedelta(hours=3)},
        ).fetchone()[0]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", window
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["callrecon_pool"].close()


def test_an_ozonetel_only_install_quarantine_by_cause_and_a_source_that_cannot_run(ozonetel_only, browser, db):
    from selenium.webdriver.common.by import By

    base, window = ozonetel_only
    browser.get(f"{base}/ops/")
    browser.find_element(By.ID, "token").send_keys(OPS_TOKEN)
    navigate(browser, browser.find_element(By.ID, "sign-in"))

    # No red Huawei row: Huawei is not used here.
    huawei = browser.find_element(By.ID, "push-huawei")
    assert "not used" in huawei.text and not huawei.find_elements(By.CSS_SELECTOR, ".bad")
    assert "huawei" not in browser.find_element(By.ID, "problems").text

    # Two differently broken bodies are two causes; replaying one leaves the other.
    navigate(browser, browser.find_element(By.LINK_TEXT, "Quarantine"))
    causes = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#reasons tr")[1:]]
    assert len(causes) == 2 and any("no call identity" in c for c in causes)
    assert any(c.startswith("ozonetel StartTime:") for c in causes)
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#reasons tr")[1:] if "no call identity" in r.text)
    navigate(browser, row.find_element(By.TAG_NAME, "button"))
    assert "1 callbacks quarantined as 'no call identity'" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    # the replayed one was parsed again (and, with the same parser, stays where it was); the other was not touched
    parsed = dict(db.execute("SELECT callrecon_quarantine_cause(error), parse_count FROM raw_inbox").fetchall())
    assert parsed["no call identity"] == 2 and [n for c, n in parsed.items() if c.startswith("StartTime:")] == [1]

    # The work item of a source that cannot run says why, and Retry says so.
    browser.get(f"{base}/ops/work?source=ozonetel&state=open")
    banner = browser.find_element(By.ID, "cannot-run").text
    assert "cannot run" in banner and "OZONETEL_USERNAME is not set" in banner
    retry = browser.find_element(By.XPATH, "//button[text()='Retry now']")
    assert retry.get_attribute("disabled") and "cannot run" in retry.get_attribute("title")
    assert str(window) in browser.find_element(By.ID, "work").text
