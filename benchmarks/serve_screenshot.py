"""docs/serve.png: the composer page as a musician sees it, with the shipped model (or the run
named) generating real tunes. Starts `seqgen serve` in this folder on a free loopback port, drives
Debian's headless Chromium with Selenium (as tests/test_serve_browser.py does), asks for two jigs
in D, waits for their scores and players, and saves a screenshot of the whole page.

    python benchmarks/serve_screenshot.py [--run NAME] [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select, WebDriverWait


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="shipped: O'Neill's 1850 (LSTM)")
    ap.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    ap.add_argument("--seed", default="7")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["seqgen", "serve", "--port", str(port), "--samples-dir", "/tmp/seqgen-shot"])
    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1500"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/api/runs", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", "#run option"))
        Select(driver.find_element("id", "run")).select_by_value(args.run)
        Select(driver.find_element("id", "meter")).select_by_value("6/8")
        for field, value in (("key", "D"), ("rhythm", "jig"), ("tunes", "2"), ("seed", args.seed)):
            driver.find_element("id", field).clear()
            driver.find_element("id", field).send_keys(value)
        driver.find_element("id", "generate").click()
        WebDriverWait(driver, 600).until(
            lambda d: d.find_element("tag name", "body").get_attribute("data-generated") == "1"
        )
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 40, 2400))
        time.sleep(0.5)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
        print(f"{args.out}: {driver.find_element('id', 'saved').text}")
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
