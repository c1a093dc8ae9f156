#!/bin/sh
# Make sure the browser tests' tools exist (tests/browser): a Chromium for Playwright to drive
# (Debian's chromium; Playwright's own browser downloads are never used), and `pdftotext` (Debian's
# poppler-utils) to read the PDFs they download.
#
# - $CHROMIUM_PATH, if set, must name an executable: no chromium is installed then.
# - Else `chromium` on PATH or /usr/bin/chromium: nothing to do for the browser.
# - `pdftotext` on PATH: nothing to do for the PDFs.
# - Else, as root with apt-get: install Debian's packages `chromium` and/or `poppler-utils`.
# - Else: say exactly what is missing and fail.
set -eu

has_chromium() {
    command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]
}

has_pdftotext() {
    command -v pdftotext >/dev/null 2>&1
}

packages=""
if [ -n "${CHROMIUM_PATH:-}" ]; then
    if [ ! -x "$CHROMIUM_PATH" ]; then
        echo "ensure_chromium: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file." >&2
        exit 1
    fi
elif ! has_chromium; then
    packages="chromium"
fi
if ! has_pdftotext; then
    packages="$packages poppler-utils"
fi

if [ -z "$packages" ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: installing Debian's$packages for the browser tests (apt-get)..." >&2
    apt-get update -q
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
    if { [ -n "${CHROMIUM_PATH:-}" ] || has_chromium; } && has_pdftotext; then
        exit 0
    fi
    echo "ensure_chromium: apt-get finished but chromium or pdftotext is still missing." >&2
    exit 1
fi

cat >&2 <<MSG
ensure_chromium: the browser tests (tests/browser) need Chromium (to drive) and pdftotext (to read
the PDFs they download); missing:$packages. Install the Debian/Ubuntu packages:

    sudo apt-get install$packages

(or set CHROMIUM_PATH to an existing Chromium binary). Playwright's own browser
download (\`playwright install\`) is not used.
MSG
exit 1
