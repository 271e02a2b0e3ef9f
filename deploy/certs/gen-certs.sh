#!/bin/sh
# One-shot bootstrap of certificates, security-plugin users and the checkpoint key for the
# docker-compose stack (the `certs` service, image target `stack-tools` of the Dockerfile). It only
# uses openssl and htpasswd, which that image carries: nothing is installed at start-up, so the
# stack starts without internet access (an air-gapped enclave with a private registry).
#
# $OUT has one directory per named volume, and each service mounts only the volumes it needs:
#   ca/              root-ca.pem, root-ca-key.pem   the stack CA; its key never leaves this service
#   opensearch/      root-ca.pem, node.pem, node-key.pem, internal_users.yml
#                                                   the OpenSearch node (runs as $OPENSEARCH_UID)
#   security-admin/  root-ca.pem, admin.pem, admin-key.pem, internal_users.yml
#                                                   the security-users job only (super-admin
#                                                   certificate for securityadmin; $OPENSEARCH_UID)
#   trust/           root-ca.pem                    Dashboards, setup, envoy-audit (public)
#   integrity/       checkpoint-key                 envoy-audit only (runs as $APP_UID), read-only
#
# internal_users.yml holds bcrypt hashes of OPENSEARCH_INITIAL_ADMIN_PASSWORD and
# OPENSEARCH_DASHBOARDS_PASSWORD and is rewritten on every run: OpenSearch loads it when its security
# index is first created, and the security-users job pushes the hashes into the index on every
# `docker compose up`, so a password changed in .env takes effect (deploy/opensearch/sync-users.sh).
# Certificates and the checkpoint key are kept across runs; a certificate that no longer verifies
# against the CA (the ca volume was deleted) is issued again.
set -eu

OUT="${OUT:-/out}"
DAYS="${CERT_DAYS:-825}"
OPENSEARCH_UID="${OPENSEARCH_UID:-1000}"
OPENSEARCH_GID="${OPENSEARCH_GID:-1000}"
APP_UID="${APP_UID:-1000}"
APP_GID="${APP_GID:-1000}"
: "${OPENSEARCH_INITIAL_ADMIN_PASSWORD:?set OPENSEARCH_INITIAL_ADMIN_PASSWORD (see deploy/stack.env.example)}"
DASHBOARDS_PASSWORD="${OPENSEARCH_DASHBOARDS_PASSWORD:-$OPENSEARCH_INITIAL_ADMIN_PASSWORD}"

for tool in openssl htpasswd; do
  command -v "$tool" >/dev/null || { echo "gen-certs: $tool not found (build the stack-tools image)" >&2; exit 1; }
done
umask 077
mkdir -p "$OUT/ca" "$OUT/opensearch" "$OUT/security-admin" "$OUT/trust" "$OUT/integrity"
CA="$OUT/ca"

if [ ! -f "$CA/root-ca.pem" ] || [ ! -f "$CA/root-ca-key.pem" ]; then
  openssl req -x509 -newkey rsa:3072 -sha256 -nodes -days "$DAYS" \
    -subj "/O=envoy-audit/CN=envoy-audit stack CA" \
    -keyout "$CA/root-ca-key.pem" -out "$CA/root-ca.pem" 2>/dev/null
fi

# $1 directory, $2 name, $3 subject, $4 subjectAltName (empty for a client certificate)
issue() {
  if [ -f "$1/$2.pem" ] && [ -f "$1/$2-key.pem" ] \
    && openssl verify -CAfile "$CA/root-ca.pem" "$1/$2.pem" >/dev/null 2>&1; then
    return 0
  fi
  tmp="$1/.$2.tmp"
  rm -rf "$tmp" && mkdir "$tmp"
  openssl genrsa -out "$tmp/key.rsa.pem" 3072 2>/dev/null
  # The security plugin wants PKCS#8 keys.
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/key.rsa.pem" -out "$tmp/key.pem"
  openssl req -new -key "$tmp/key.pem" -subj "$3" -out "$tmp/req.csr"
  if [ -n "$4" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$4" >"$tmp/ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$tmp/ext"
  fi
  openssl x509 -req -in "$tmp/req.csr" -CA "$CA/root-ca.pem" -CAkey "$CA/root-ca-key.pem" -CAcreateserial \
    -CAserial "$CA/root-ca.srl" -sha256 -days "$DAYS" -extfile "$tmp/ext" -out "$tmp/cert.pem" 2>/dev/null
  mv "$tmp/key.pem" "$1/$2-key.pem"
  mv "$tmp/cert.pem" "$1/$2.pem"
  rm -rf "$tmp"
}

issue "$OUT/opensearch" node "/O=envoy-audit/CN=opensearch" "DNS:opensearch,DNS:localhost,IP:127.0.0.1"
issue "$OUT/security-admin" admin "/O=envoy-audit/CN=admin" ""

# bcrypt (cost 12) with the password on standard input, not on a command line.
hash() { printf '%s\n' "$1" | htpasswd -niBC 12 "" | tr -d ':\n' | sed 's/^\$2y/$2a/'; }

cat >"$OUT/security-admin/internal_users.yml" <<USERS
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
cp "$OUT/security-admin/internal_users.yml" "$OUT/opensearch/internal_users.yml"

for dir in opensearch security-admin trust; do cp "$CA/root-ca.pem" "$OUT/$dir/root-ca.pem"; done

# The HMAC key that signs the integrity checkpoints (docs/integrity.md): 32 random bytes as hex.
# Kept across runs: checkpoints signed with it must stay verifiable.
if [ ! -s "$OUT/integrity/checkpoint-key" ]; then
  openssl rand -hex 32 >"$OUT/integrity/checkpoint-key"
fi

# Owners and modes: each directory is the root of its volume, readable only by the user of the
# container that mounts it; private keys 0600 (0400 for the checkpoint key); the CA stays root's.
chown -R 0:0 "$CA" "$OUT/trust"
chmod 700 "$CA" && chmod 600 "$CA"/*
chmod 755 "$OUT/trust" && chmod 644 "$OUT/trust/root-ca.pem"
for dir in opensearch security-admin; do
  chown -R "$OPENSEARCH_UID:$OPENSEARCH_GID" "$OUT/$dir"
  chmod 700 "$OUT/$dir"
  chmod 644 "$OUT/$dir"/*.pem "$OUT/$dir/internal_users.yml"
  chmod 600 "$OUT/$dir"/*-key.pem
done
chown -R "$APP_UID:$APP_GID" "$OUT/integrity"
chmod 700 "$OUT/integrity" && chmod 400 "$OUT/integrity/checkpoint-key"
echo "certs ready in $OUT"
