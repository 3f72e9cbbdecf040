#!/usr/bin/env bash
# Installs what is missing on Debian 12 for building (and, with --test, testing) magnesium-cds.
# Only versioned Boost 1.81 packages: an unversioned libboost-*-dev pulls in 1.74 and conflicts.
# Node.js is the machine's own (never apt's nodejs); the test command checks for it.
set -euo pipefail

profile=build
for arg in "$@"; do
    case "$arg" in
        --test) profile=test ;;
        --bench) profile=bench ;;
        *) echo "usage: $0 [--test|--bench]" >&2; exit 2 ;;
    esac
done

packages=(
    build-essential cmake pkg-config
    libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
    rapidjson-dev libhowardhinnant-date-dev libspdlog-dev libssl-dev libsqlite3-dev libpq-dev openssl
)
if [[ $profile == test || $profile == bench ]]; then
    # doctest: unit tests; python3 + cryptography + prometheus-client: end-to-end and JWT tests with keys minted
    # independently of our code; jsonschema: the explain layout checked by an independent validator;
    # clang + compiler-rt: the sanitizer build shared with the fuzzers.
    packages+=(doctest-dev python3 python3-cryptography python3-prometheus-client python3-jsonschema curl clang-14 libclang-rt-14-dev clang-format-14)
    # postgresql: the PostgreSQL store's tests start a throwaway server (initdb, pg_ctl).
    packages+=(postgresql)
    # chromium: the card viewer's browser test (tests/ui), driven by playwright-core.
    packages+=(chromium)
    # kubectl renders the Kustomize overlays in tests/deploy; Debian's only when none exists.
    command -v kubectl >/dev/null || packages+=(kubernetes-client)
fi
if [[ $profile == bench ]]; then
    packages+=(nginx-light wrk)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        sudo_cmd=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo_cmd=(sudo)
    else
        echo "magnesium-cds needs these Debian packages: ${missing[*]}" >&2
        echo "Install them as root: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "Installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ $profile == test ]]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "The tests need the machine's Node.js 20 and npm (FHIR validators, the FHIR test server)." >&2
        echo "Install Node.js 20 from your usual source; do not use Debian's nodejs package." >&2
        exit 1
    fi
fi
