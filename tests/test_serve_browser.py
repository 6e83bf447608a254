"""The composer page in a real browser: a headless Chromium (Debian's, driven by Selenium) against
`seqgen serve`'s app under uvicorn on a free loopback port. Load the page, pick a run, generate,
see an engraved score with notes, an audio element that loads, downloads that answer; a text run
streams; a bad field shows one line. Skips, saying why, where Chromium or ChromeDriver is missing
(`bash scripts/install-browser.sh` installs them). The same browser takes docs/serve.png of the
page with the shipped model (benchmarks/serve_screenshot.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.test_evaluate import JIG
from tests.test_serve import runs, serving  # noqa: F401  (runs: the fixture, checkpoints/ends and text-lstm)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium and ChromeDriver are not installed (bash scripts/install-browser.sh installs them)",
)


@pytest.fixture
def server(runs: Path) -> Iterator[str]:  # noqa: F811
    from seqgen.serve.app import Settings, make_app
    from seqgen.serve.catalog import Catalog

    with serving(make_app(Catalog(runs, device=torch.device("cpu"), shipped=False), Settings())) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1400")
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _wait(driver: Any, condition: Any, seconds: float = 60.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _open(driver: Any, url: str, run: str) -> None:
    from selenium.webdriver.support.ui import Select

    driver.get(url)
    _wait(driver, lambda d: len(d.find_elements("css selector", "#run option")) >= 2)
    Select(driver.find_element("id", "run")).select_by_value(run)


def _set(driver: Any, field: str, value: str) -> None:
    element = driver.find_element("id", field)
    element.clear()
    element.send_keys(value)


def test_a_musician_generates_sees_hears_and_downloads_a_tune(server: str, browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    _open(browser, server, "ends")
    assert browser.find_element("id", "tune-fields").is_displayed()
    assert not browser.find_element("id", "text-fields").is_displayed()
    assert "ABC data" in browser.find_element("id", "run-info").text
    for switch in ("fill_bars", "new_endings"):  # the decoding switches, on as on the CLI
        box = browser.find_element("id", switch)
        assert box.is_displayed() and box.is_selected()
    Select(browser.find_element("id", "meter")).select_by_value("6/8")
    _set(browser, "key", "D")
    _set(browser, "start", JIG.replace("\n", "\\n"))
    _set(browser, "tunes", "2")
    _set(browser, "seed", "3")
    browser.find_element("id", "generate").click()
    _wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-generated") == "1")
    assert not browser.find_element("id", "error").is_displayed()
    cards = browser.find_elements("css selector", ".tune")
    assert len(cards) == 2
    first = cards[0]
    assert "pass" in first.find_element("css selector", ".badge").text
    passed = first.find_elements("css selector", ".verdict li.ok")
    verdict = [li.get_attribute("data-criterion") for li in passed]
    assert verdict == ["rhythm", "mode", "form", "plagiarism"]
    notes = first.find_elements("css selector", ".score svg g.note")
    assert len(notes) == 88, first.get_attribute("innerHTML")[
        :3000
    ]  # the jig's 16 bars: 6 notes each, but 4 in the 4 bars that end on D3
    bars = first.find_elements("css selector", ".score svg g.measure")
    assert len(bars) == 16
    # The audio element's source loads and plays for the tune's length.
    duration = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const audio = document.querySelector('.tune audio');
        const report = () => done(audio.duration);
        if (audio.readyState >= 1) report(); else audio.addEventListener('loadedmetadata', report);
        audio.addEventListener('error', () => done('error ' + (audio.error && audio.error.code)));"""
    )
    assert isinstance(duration, float) and duration > 10, duration
    # Every download link answers with its file.
    sizes = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const links = [...document.querySelectorAll('.tune a.download')];
        Promise.all(links.map(a => fetch(a.href).then(r => r.ok ? r.blob().then(b => [a.dataset.ext, b.size])
                                                                 : [a.dataset.ext, -r.status])))
          .then(done, e => done(String(e)));"""
    )
    assert {ext for ext, _ in sizes} == {"abc", "mid", "wav", "svg"}
    assert all(size > 0 for _, size in sizes), sizes
    assert "saved in samples" in browser.find_element("id", "saved").text


def test_a_text_run_streams_its_text_into_the_page(server: str, browser: Any) -> None:
    _open(browser, server, "text-lstm")
    assert browser.find_element("id", "text-fields").is_displayed()
    assert not browser.find_element("id", "tune-fields").is_displayed()
    _set(browser, "prompt", "The ")
    _set(browser, "length", "1500")
    _set(browser, "seed", "4")
    browser.execute_script(
        """window.seen = [];
        const out = document.getElementById('text-out');
        new MutationObserver(() => {
          if (!document.body.dataset.generated) window.seen.push(out.textContent.length);
        }).observe(out, {childList: true, characterData: true, subtree: true});"""
    )
    browser.find_element("id", "generate").click()
    _wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-generated") == "1")
    seen = browser.execute_script("return window.seen")
    text = browser.find_element("id", "text-out").text
    assert text.startswith("The") and len(text) > 200
    growing = [n for n in seen if n > 0]
    assert len(set(growing)) >= 3, seen  # it grew piece by piece while the sample was drawn
    assert growing[0] < len(text) / 2


def test_a_bad_field_shows_one_line_in_the_page(server: str, browser: Any) -> None:
    _open(browser, server, "ends")
    _set(browser, "key", "H")
    browser.find_element("id", "generate").click()
    error = browser.find_element("id", "error")
    _wait(browser, lambda d: error.text)
    assert error.text.startswith("key 'H' is not an ABC key")
    assert "\n" not in error.text and "Traceback" not in browser.page_source
    assert browser.find_element("id", "generate").is_enabled()  # the page is ready for another try


def test_stop_ends_a_generation_and_the_page_is_ready_again(server: str, browser: Any) -> None:
    _open(browser, server, "text-lstm")
    _set(browser, "prompt", "The ")
    _set(browser, "length", "2000")
    stop = browser.find_element("id", "stop")
    assert not stop.is_displayed()
    browser.execute_script(  # press Stop as soon as the first drawn characters show
        """const out = document.getElementById('text-out');
        new MutationObserver((_, obs) => {
          if (out.textContent.length > 4) { obs.disconnect(); document.getElementById('stop').click(); }
        }).observe(out, {childList: true, characterData: true, subtree: true});"""
    )
    browser.find_element("id", "generate").click()
    saved = browser.find_element("id", "saved")
    _wait(browser, lambda d: saved.text == "Stopped.")
    assert browser.find_element("id", "generate").is_enabled() and not stop.is_displayed()
    assert not browser.find_element("tag name", "body").get_attribute("data-generated")  # no "done"
    assert not browser.find_element("id", "error").text
