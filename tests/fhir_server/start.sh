#!/usr/bin/env bash
# CTest fixture set-up: starts the loopback FHIR test server (server.mjs) in the background.
#   start.sh STATE_DIR SEED_DIR
# STATE_DIR receives: port, tls_port, pid, token, ca.pem (the CA of the HTTPS port's
# certificate, made here with openssl), requests.log and server.out. stop.sh STATE_DIR ends it.
set -euo pipefail
state=$1
seed=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    kill "$(cat "$state/pid")" || true
fi
rm -rf "$state"
mkdir -p "$state"

command -v node >/dev/null || { echo "node (Node.js 20) is required for the FHIR test server" >&2; exit 1; }
if [[ ! -d "$here/node_modules/@medplum/fhir-router" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# A throw-away CA and a server certificate for 127.0.0.1 and localhost, for the HTTPS tests.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=magnesium-cds test CA" -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout "$state/server.key" -out "$state/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    > "$state/server.ext"
openssl x509 -req -in "$state/server.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" -CAcreateserial \
    -days 2 -extfile "$state/server.ext" -out "$state/server.pem" 2>/dev/null

token="test-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$token" > "$state/token"

nohup node "$here/server.mjs" --fixtures "$seed" --state-dir "$state" --token "$token" \
    --tls-cert "$state/server.pem" --tls-key "$state/server.key" --max-lifetime-s 1800 \
    > "$state/server.out" 2>&1 < /dev/null &
echo $! > "$state/pid"

for _ in $(seq 1 600); do
    if [[ -f "$state/ready" ]]; then
        echo "FHIR test server ready: $(cat "$state/ready")"
        exit 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        echo "FHIR test server exited:" >&2
        cat "$state/server.out" >&2
        exit 1
    fi
    sleep 0.1
done
echo "FHIR test server did not become ready within 60 s" >&2
cat "$state/server.out" >&2
kill "$(cat "$state/pid")" 2>/dev/null || true
exit 1
