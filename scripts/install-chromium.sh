#!/usr/bin/env bash
# Installs Debian's `chromium` package, which runs WebGPU headless on a machine without a GPU (an
# adapter backed by SwiftShader) for `npm run test:browser` (test/browser/run.mjs drives it with
# playwright-core; Playwright's own browser download does not work here). Idempotent and quiet; needs
# root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
have_chromium() { command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; }
if have_chromium; then echo "chromium: already installed ($(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo '?'))"; exit 0; fi
# apt's and debconf's chatter goes to a log that is printed only when the install fails.
log=$(mktemp); trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation; } >"$log" 2>&1; then
  cat "$log" >&2; echo "chromium: install failed" >&2; exit 1
fi
echo "chromium: installed $(dpkg-query -W -f='${Version}' chromium)"
