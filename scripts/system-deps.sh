#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real, when they are missing:
# redis-server (cache tests), docker-registry (distribution 2.8.2) and skopeo (e2e tests),
# chromium (the status page's browser test, driven by playwright-core), docker-compose and
# caddy (the compose stack's files, parsed by their real readers), docker.io (dockerd, started
# privately by the docker e2e test; the machine's own docker CLI may be only a client) and
# containerd (its daemon beside dockerd, and the `ctr` client).
# Runs before `npm test`; a machine that has them already pays nothing.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v ctr >/dev/null 2>&1 || missing+=(containerd)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
# The Debian packages may start their own services; the tests start private instances.
for service in redis-server docker-registry caddy docker containerd; do
  $sudo service "$service" stop >/dev/null 2>&1 || true
done
