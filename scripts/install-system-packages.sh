#!/usr/bin/env bash
# System packages the test suite needs: Dovecot (a real IMAP server) and Chromium (the
# browser Playwright drives; no `playwright install` download needed).
# Run as root (CI does); `make test` calls it and it does nothing when all are present.
set -euo pipefail

missing=()
command -v dovecot >/dev/null || missing+=(dovecot-imapd)
command -v chromium >/dev/null || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-packages: need root to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts services on install where it can; the tests run their own private instances.
systemctl disable --now dovecot 2>/dev/null || service dovecot stop 2>/dev/null || true
