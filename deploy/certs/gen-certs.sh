#!/bin/sh
# One-shot certificate and user bootstrap for the docker-compose stack (run by the `certs` service).
#
# Writes into $OUT (the shared `certs` volume):
#   root-ca.pem / root-ca-key.pem   a private CA for this stack only
#   node.pem / node-key.pem         OpenSearch node certificate: SAN opensearch, localhost, 127.0.0.1
#   admin.pem / admin-key.pem       client certificate for securityadmin (CN=admin), never used by apps
#   internal_users.yml              security-plugin users with bcrypt hashes of the passwords given in
#                                   OPENSEARCH_INITIAL_ADMIN_PASSWORD and OPENSEARCH_DASHBOARDS_PASSWORD
# Idempotent: existing certificates are kept, so restarting the stack does not rotate them; the users
# file is rewritten every time so a password change takes effect on the next OpenSearch start.
set -eu

OUT="${OUT:-/certs}"
DAYS="${CERT_DAYS:-825}"
: "${OPENSEARCH_INITIAL_ADMIN_PASSWORD:?set OPENSEARCH_INITIAL_ADMIN_PASSWORD (see .env.example)}"
DASHBOARDS_PASSWORD="${OPENSEARCH_DASHBOARDS_PASSWORD:-$OPENSEARCH_INITIAL_ADMIN_PASSWORD}"

apk add --no-cache --quiet openssl apache2-utils >/dev/null
mkdir -p "$OUT"
cd "$OUT"

if [ ! -f root-ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days "$DAYS" \
    -subj "/O=envoy-audit/CN=envoy-audit stack CA" \
    -keyout root-ca-key.pem -out root-ca.pem
fi

# $1 name, $2 subject, $3 subjectAltName (empty for a client certificate)
issue() {
  [ -f "$1.pem" ] && return 0
  openssl genrsa -out "$1-key.rsa.pem" 3072
  # The security plugin wants PKCS#8 keys.
  openssl pkcs8 -topk8 -nocrypt -in "$1-key.rsa.pem" -out "$1-key.pem"
  rm -f "$1-key.rsa.pem"
  openssl req -new -key "$1-key.pem" -subj "$2" -out "$1.csr"
  if [ -n "$3" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$1.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' > "$1.ext"
  fi
  openssl x509 -req -in "$1.csr" -CA root-ca.pem -CAkey root-ca-key.pem -CAcreateserial \
    -sha256 -days "$DAYS" -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}

issue node "/O=envoy-audit/CN=opensearch" "DNS:opensearch,DNS:localhost,IP:127.0.0.1"
issue admin "/O=envoy-audit/CN=admin" ""

hash() { htpasswd -bnBC 12 "" "$1" | tr -d ':\n' | sed 's/^\$2y/$2a/'; }

cat > internal_users.yml <<USERS
_meta:
  type: "internalusers"
  config_version: 2
admin:
  hash: "$(hash "$OPENSEARCH_INITIAL_ADMIN_PASSWORD")"
  reserved: true
  backend_roles: ["admin"]
  description: "Stack administrator (envoy-audit setup and run in the demo stack)"
kibanaserver:
  hash: "$(hash "$DASHBOARDS_PASSWORD")"
  reserved: true
  description: "OpenSearch Dashboards server user"
USERS

# OpenSearch runs as uid 1000, Dashboards as 1000, envoy-audit as node (1000): readable by them only.
chown -R 1000:1000 "$OUT"
chmod 600 "$OUT"/*-key.pem
chmod 644 "$OUT"/root-ca.pem "$OUT"/node.pem "$OUT"/admin.pem "$OUT"/internal_users.yml
echo "certs ready in $OUT"
