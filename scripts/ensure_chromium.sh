#!/bin/sh
# Make sure a Chromium exists for the browser tests (tests/browser: Playwright driving Debian's
# chromium; Playwright's own browser downloads are never used).
#
# - $CHROMIUM_PATH, if set, must name an executable: nothing is installed then.
# - Else `chromium` on PATH or /usr/bin/chromium: nothing to do.
# - Else, as root with apt-get: install Debian's package `chromium`.
# - Else: say exactly what is missing and fail.
set -eu

if [ -n "${CHROMIUM_PATH:-}" ]; then
    if [ -x "$CHROMIUM_PATH" ]; then
        exit 0
    fi
    echo "ensure_chromium: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file." >&2
    exit 1
fi

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: installing Debian's chromium for the browser tests (apt-get)..." >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
    if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
        exit 0
    fi
    echo "ensure_chromium: apt-get finished but no chromium binary was found." >&2
    exit 1
fi

cat >&2 <<'MSG'
ensure_chromium: the browser tests (tests/browser) need Chromium, and none was found
(neither `chromium` on PATH nor /usr/bin/chromium). Install the Debian/Ubuntu package:

    sudo apt-get install chromium

or set CHROMIUM_PATH to an existing Chromium binary. Playwright's own browser
download (`playwright install`) is not used.
MSG
exit 1
