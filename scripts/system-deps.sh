#!/usr/bin/env bash
# System packages the test suite needs that pip cannot bring: Debian's Chromium
# (driven by Playwright in the browser tests) and CJK fonts so Japanese renders.
# Idempotent: does nothing when Chromium is already there.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends chromium fonts-noto-cjk
fi
