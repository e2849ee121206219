#!/usr/bin/env bash
# Installs the Debian packages the full profile and the tests need, when they are missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# The load generator of `make bench`.
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# The real browser of tests/browser (Playwright drives it; its own browser download is not used).
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
# Node.js runs the JavaScript SDKs of tests/sdk (npm installs them from tests/sdk/js).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The JVM that runs the Kotlin compiler of tests/codegen (npm kotlin-compiler needs Java 11 or newer).
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
# The shell scripts of the CI examples in docs/ci (tests/test_ci_docs.py).
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
