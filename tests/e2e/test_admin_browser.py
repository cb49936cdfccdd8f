"""The admin page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against `serve --simulate`, at a phone's 360-pixel
width. It logs in (after a wrong password is refused), sees the simulated modem with its
signal, sends a test SMS and watches it become delivered without reloading, switches a
fault on and sees the modem's state change, then off again. Every visible text on each
page has WCAG AA contrast against its background. A screenshot of each page is
saved under test-artifacts/admin-browser/ (named in the terminal summary).

Skipped, saying why, only when Selenium or the browser cannot be found (`make test`
installs chromium and chromium-driver when it runs as root with apt-get)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from processes import SCRIPT, clean_environment, start_serve, stop

PASSWORD = "browser test password"
PHONE = "+33612345678"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin-browser"
WIDTH, HEIGHT = 360, 780
WAIT = 30  # seconds for what goes through the worker and the simulated network

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="Selenium is not installed: pip install -e '.[test]'")
from selenium.common.exceptions import (NoSuchElementException,  # noqa: E402
                                        StaleElementReferenceException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no headless browser: Debian's chromium and chromium-driver are not installed "
           "(make test installs them as root; else apt-get install chromium chromium-driver)")


SUMMARY_PLUGIN = "admin-browser-artefacts"


class _Summary:
    """Names the screenshots' directory in the terminal summary (a plugin registered by
    the browser fixture: a test module cannot implement hooks itself)."""

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(f"admin page screenshots: {ARTIFACTS}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    state = tmp_path_factory.mktemp("admin-browser")
    subprocess.run([str(SCRIPT), "admin", "password", "--state-dir", str(state)],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                   env=clean_environment(), timeout=60)
    process, url = start_serve(state, "--simulate")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def browser(request):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if not request.config.pluginmanager.has_plugin(SUMMARY_PLUGIN):
        request.config.pluginmanager.register(_Summary(), SUMMARY_PLUGIN)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    """A full-page screenshot at the phone's width."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(max(height, HEIGHT), 4000))
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(WIDTH, HEIGHT)


def fits_the_width(driver) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll in their box)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1")


def wait_for(driver, probe, message: str):
    """Poll ``probe`` until truthy; an element replaced by the live refresh meanwhile
    (stale) or not there yet is polled again."""
    return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,
                                             NoSuchElementException)).until(
        lambda d: probe(d), message=message)


def text_of(driver, selector: str) -> str | None:
    """The text of the element now (read in one script: the live refresh may replace it
    between a find and a read)."""
    return driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e && e.textContent.trim();",
        selector)


# WCAG 2.x contrast of every visible text against the background it is drawn on
# (the first ancestor with an opaque enough background colour; white at the top).
CONTRAST = """
function channel(c) { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }
function rgba(text) { var v = text.match(/[0-9.]+/g).map(Number); return v.length > 3 ? v : v.concat([1]); }
function luminance(v) { return 0.2126 * channel(v[0]) + 0.7152 * channel(v[1]) + 0.0722 * channel(v[2]); }
function over(top, below) { var a = top[3];
  return [0, 1, 2].map(function (i) { return top[i] * a + below[i] * (1 - a); }).concat([1]); }
function background(element) {
  var layers = [];
  for (var e = element; e; e = e.parentElement) {
    var c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  var colour = [255, 255, 255, 1];
  for (var i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
  return colour;
}
var failures = [];
document.querySelectorAll("body *").forEach(function (e) {
  var own = Array.prototype.some.call(e.childNodes, function (n) {
    return n.nodeType === 3 && n.textContent.trim(); });
  var style = getComputedStyle(e), box = e.getBoundingClientRect();
  if (!own || style.visibility !== "visible" || box.width === 0 || box.height === 0) return;
  var back = background(e), fore = over(rgba(style.color), back);
  var l1 = luminance(fore), l2 = luminance(back);
  var ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  var size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  var needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) failures.push(e.tagName.toLowerCase() + " '" + e.textContent.trim().slice(0, 30)
    + "' " + style.color + " on rgb(" + back.slice(0, 3).join(",") + "): " + ratio.toFixed(2));
});
return failures;
"""


def low_contrast(driver) -> list[str]:
    """The visible texts of the page below WCAG AA's contrast (4.5:1, 3:1 when large)."""
    return driver.execute_script(CONTRAST)


def login(driver, url: str, password: str) -> None:
    driver.get(url + "/admin/login")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()


def modem_state(driver) -> str | None:
    return text_of(driver, "section.modem .state")


def test_an_operator_logs_in_sends_a_test_sms_and_switches_a_fault(served, browser):
    login(browser, served, "not the password")
    wait_for(browser, lambda d: "Wrong password" in (text_of(d, "#login-error") or ""),
             "a wrong password was not refused")
    shot(browser, "01-login-refused")
    assert low_contrast(browser) == []

    login(browser, served, PASSWORD)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section.modem"),
             "the overview shows no modem")
    assert "dBm" in text_of(browser, "section.modem .signal")
    assert "dBm" in browser.execute_script(
        "return document.querySelector('section.modem .signal svg')"
        ".getAttribute('aria-label')")
    assert modem_state(browser) == "ready"
    assert fits_the_width(browser) and low_contrast(browser) == []
    shot(browser, "02-overview")

    browser.get(served + "/admin/send")
    browser.find_element(By.ID, "number").send_keys(PHONE)
    browser.find_element(By.ID, "confirm").click()
    browser.find_element(By.ID, "send").click()
    status_url = wait_for(browser, lambda d: re.search(r"/admin/send/[0-9]+$", d.current_url)
                          and d.current_url, "no status page after sending")
    # The page is not reloaded: its live part is refreshed by admin.js.
    wait_for(browser, lambda d: text_of(d, "#sms-status") == "delivered",
             "the test SMS did not become delivered")
    assert browser.current_url == status_url
    assert PHONE not in browser.page_source  # masked
    assert low_contrast(browser) == []
    shot(browser, "03-test-sms-delivered")

    browser.get(served + "/admin/")
    fault = browser.find_element(By.ID, "fault")
    for option in fault.find_elements(By.TAG_NAME, "option"):
        if option.text == "unplug":
            option.click()
    browser.find_element(By.ID, "confirm-fault").click()
    browser.find_element(By.ID, "fault-on").click()
    wait_for(browser, lambda d: modem_state(d) not in (None, "ready"),
             "the modem's state did not change with the fault on")
    assert low_contrast(browser) == []
    shot(browser, "04-fault-on")

    for option in browser.find_element(By.ID, "fault").find_elements(By.TAG_NAME, "option"):
        if option.text == "unplug":
            option.click()
    browser.find_element(By.ID, "confirm-fault").click()
    browser.find_element(By.ID, "fault-off").click()
    wait_for(browser, lambda d: modem_state(d) == "ready",
             "the modem did not come back with the fault off")

    for name in ("outbox", "inbox", "guard", "clients"):
        browser.get(f"{served}/admin/{name}")
        assert browser.find_element(By.TAG_NAME, "h1").text
        assert fits_the_width(browser) and low_contrast(browser) == []
        shot(browser, f"05-{name}")
