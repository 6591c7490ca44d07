#!/usr/bin/env bash
# Installs what the integration tests need, only when it is missing: Debian packages (PostgreSQL,
# Redis, xmlsec1, ClamAV daemon, Chromium, Node/npm, Maven, a JDK), configurable-http-proxy (npm)
# and a Keycloak distribution (Maven artifact), both under .cache/. Idempotent; fast when all present.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ROOT}/.cache"
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.5.6}"
KC_DIR="${CACHE}/keycloak/keycloak-${KEYCLOAK_VERSION}"
CHP="${CACHE}/npm/node_modules/.bin/configurable-http-proxy"

say() { printf '[ensure-system-deps] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

have_jdk() {
    # Keycloak 26 runs on JDK 17 or newer; any javac-bearing JDK under /usr/lib/jvm will do.
    local d
    for d in /usr/lib/jvm/*/; do
        if [ -x "${d}bin/java" ] && [ -x "${d}bin/javac" ]; then
            return 0
        fi
    done
    return 1
}

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v xmlsec1 >/dev/null || missing+=(xmlsec1)
[ -x /usr/sbin/clamd ] || missing+=(clamav-daemon)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v unzip >/dev/null || missing+=(unzip)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v mvn >/dev/null || missing+=(maven)
have_jdk || missing+=(openjdk-17-jdk-headless)

if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    # Packages must not start daemons (clamd, freshclam, postgres, redis): the harness starts its own.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | ${SUDO} tee /usr/sbin/policy-rc.d >/dev/null
        ${SUDO} chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    cleanup_policy() {
        if [ "${added_policy}" -eq 1 ]; then
            ${SUDO} rm -f /usr/sbin/policy-rc.d
        fi
    }
    trap cleanup_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    ${SUDO} apt-get -o DPkg::Lock::Timeout=600 update -qq
    ${SUDO} apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    # Under systemd: stop anything that started anyway, and keep ClamAV's units (which would run
    # freshclam) from starting at boot. Best effort.
    if [ -d /run/systemd/system ]; then
        for svc in clamav-daemon clamav-freshclam postgresql redis-server; do
            if systemctl is-active --quiet "${svc}" 2>/dev/null; then
                ${SUDO} systemctl stop "${svc}" || true
            fi
        done
        ${SUDO} systemctl disable clamav-daemon clamav-freshclam >/dev/null 2>&1 || true
    fi
    cleanup_policy
    trap - EXIT
    say "Debian packages installed"
else
    say "Debian packages present"
fi

if [ ! -x "${CHP}" ]; then
    # configurable-http-proxy 5.x needs Node >= 20; Debian 12 ships Node 18, which 4.x supports.
    chp_spec="configurable-http-proxy"
    if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
        chp_spec="configurable-http-proxy@^4"
    fi
    say "installing ${chp_spec} into .cache/npm"
    mkdir -p "${CACHE}/npm"
    if ! out="$(npm install --prefix "${CACHE}/npm" --no-save --no-package-lock --no-audit --no-fund \
        --loglevel=error "${chp_spec}" 2>&1)"; then
        printf '%s\n' "${out}" >&2
        exit 1
    fi
    # npm's hidden lockfile records download addresses; the tree works without it.
    rm -f "${CACHE}/npm/node_modules/.package-lock.json"
    [ -x "${CHP}" ] || { say "configurable-http-proxy did not install"; exit 1; }
else
    say "configurable-http-proxy present"
fi

if [ ! -x "${KC_DIR}/bin/kc.sh" ]; then
    say "fetching Keycloak ${KEYCLOAK_VERSION} (Maven artifact org.keycloak:keycloak-quarkus-dist)"
    mkdir -p "${CACHE}/keycloak"
    if ! out="$(mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
        "-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip" \
        "-DoutputDirectory=${CACHE}/keycloak" 2>&1)"; then
        printf '%s\n' "${out}" >&2
        exit 1
    fi
    zip="${CACHE}/keycloak/keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip"
    rm -rf "${KC_DIR}"
    unzip -q "${zip}" -d "${CACHE}/keycloak"
    rm -f "${zip}"
    [ -x "${KC_DIR}/bin/kc.sh" ] || { say "Keycloak unpack failed: no ${KC_DIR}/bin/kc.sh"; exit 1; }
    say "Keycloak ${KEYCLOAK_VERSION} unpacked"
else
    say "Keycloak ${KEYCLOAK_VERSION} present"
fi

say "done"
