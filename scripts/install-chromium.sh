#!/usr/bin/env bash
# Installs Debian's chromium for the headless browser tests (test/report/browser.spec.ts) and bench/report.ts.
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there. Playwright never downloads a
# browser in this project; it drives this one (executablePath /usr/bin/chromium).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium || { echo "install-chromium: /usr/bin/chromium is still missing" >&2; exit 1; }
