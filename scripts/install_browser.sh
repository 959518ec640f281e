#!/bin/sh
# Install what the preview/report tests need from Debian's packages:
#  - the headless browser tests/test_report_browser.py drives: chromium and
#    chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver);
#  - Mesa's EGL (libegl1, libegl-mesa0), which VTK uses for off-screen rendering without
#    a display (tests/test_preview.py); the machine image normally has it already.
# Idempotent: does nothing when everything is present. Installs only as root through
# apt; otherwise it says what to run and exits 0 (the browser tests then skip with a
# reason). Never downloads a browser build of its own (no `playwright install`, no
# Selenium Manager: the tests pass the chromedriver path explicitly).
set -eu
need=""
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    need="chromium chromium-driver"
fi
if command -v ldconfig >/dev/null 2>&1 && ! ldconfig -p | grep -q 'libEGL_mesa\.so'; then
    need="$need libegl1 libegl-mesa0"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: missing packages; as root run: apt-get install -y $need" >&2
    exit 0
fi
echo "install_browser.sh: installing $need (Debian)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $need >/dev/null
