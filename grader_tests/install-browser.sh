#!/usr/bin/env bash
# Install what the browser tests need: Debian's chromium, which Playwright for Python drives
# with executable_path=/usr/bin/chromium (never `playwright install`: no browser downloads).
# Idempotent; waits for the apt lock if another install holds it. Run as root (CI is).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-browser: /usr/bin/chromium is missing; as root run: apt-get install chromium" >&2
  exit 1
fi
echo "==> installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null 2>&1 || {
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
}
/usr/bin/chromium --version >&2
