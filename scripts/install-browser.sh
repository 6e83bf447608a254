#!/usr/bin/env bash
# Chromium and its WebDriver, for the composer page's browser test (tests/test_serve_browser.py,
# driven by Selenium). Debian/Ubuntu: apt (as root, or with sudo). Never fails: without them that
# test skips and says why.
set -u
have() { command -v "$1" >/dev/null 2>&1; }
if { have chromium || have chromium-browser; } && have chromedriver; then
    echo "browser: Chromium and ChromeDriver are installed"
    exit 0
fi
if have apt-get; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo; then sudo="sudo -n"; else echo "browser: not root and no sudo; skipping (install chromium chromium-driver yourself)"; exit 0; fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    pkgs="chromium chromium-driver"
    $sudo apt-get install -y -q --no-install-recommends $pkgs \
        || { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends $pkgs; } \
        || echo "browser: apt could not install $pkgs; the browser test will skip"
else
    echo "browser: no apt-get here; install Chromium and ChromeDriver yourself (the browser test skips without them)"
fi
exit 0
