#!/bin/bash
# One-shot (the `security-users` service: the OpenSearch image, its own uid) run on every
# `docker compose up`: puts the bcrypt hashes of the passwords in .env (internal_users.yml written by
# the certs service) into the security index, so that changing OPENSEARCH_INITIAL_ADMIN_PASSWORD or
# OPENSEARCH_DASHBOARDS_PASSWORD and running `docker compose up -d` rotates them. OpenSearch reads
# internal_users.yml only when it first creates its security index; after that only securityadmin
# (with the super-admin certificate of the security-admin volume) or the REST API change users.
#
# It downloads the current users (securityadmin -backup), replaces the hash of each user the file
# names (admin, kibanaserver) and keeps every other user and attribute as it is (users created in
# Dashboards or through the REST API survive), then uploads the result (-f ... -t internalusers).
# Uses bash, curl and the security plugin's tools, which the OpenSearch image carries.
#
#   sync-users.sh                       the job (environment: OPENSEARCH_HOST, SECURITY_ADMIN_DIR)
#   sync-users.sh merge CURRENT WANTED  print CURRENT with the hashes of WANTED (what the job uploads)
set -euo pipefail

# $1 current internal_users.yml (securityadmin's backup), $2 the wanted one (gen-certs.sh).
merge() {
  local line user='' block=''
  local -A hash=() text=()
  local -a order=()
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^\"?([^\"[:space:]#:][^\":]*)\"?:[[:space:]]*$ ]]; then
      user=${BASH_REMATCH[1]}
      [[ $user == _meta ]] && user='' || order+=("$user")
    elif [[ -n $user && $line =~ ^[[:space:]]+hash:[[:space:]]*[\"\']?([^\"\'[:space:]]+) ]]; then
      hash[$user]=${BASH_REMATCH[1]}
    fi
    [[ -n $user ]] && text[$user]+="$line"$'\n'
  done <"$2"
  local -A seen=()
  user=''
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^\"?([^\"[:space:]#:][^\":]*)\"?:[[:space:]]*$ ]]; then
      user=${BASH_REMATCH[1]}
      seen[$user]=1
    elif [[ $line =~ ^[^[:space:]] ]]; then
      user=''
    elif [[ -n $user && -n ${hash[$user]:-} && $line =~ ^([[:space:]]+)hash: ]]; then
      line="${BASH_REMATCH[1]}hash: \"${hash[$user]}\""
    fi
    printf '%s\n' "$line"
  done <"$1"
  # A wanted user missing from the index (deleted by hand) is added back as the file defines it.
  for user in "${order[@]}"; do
    [[ -n ${seen[$user]:-} ]] || printf '%s' "${text[$user]}"
  done
}

if [[ ${1:-} == merge ]]; then
  merge "$2" "$3"
  exit 0
fi

DIR="${SECURITY_ADMIN_DIR:-/usr/share/opensearch/config/security-admin}"
HOST="${OPENSEARCH_HOST:-opensearch}"
TOOLS="${SECURITY_TOOLS:-/usr/share/opensearch/plugins/opensearch-security/tools}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Wait until the node answers HTTPS and its security index is initialised: an anonymous request then
# gets 401 (503 before). No password is needed for that.
for attempt in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DIR/root-ca.pem" "https://$HOST:9200/" || true)
  [[ $code == 401 || $code == 200 ]] && break
  [[ $attempt == 60 ]] && { echo "sync-users: https://$HOST:9200 not ready (last answer: $code)" >&2; exit 1; }
  sleep 5
done

admin() {
  "$TOOLS/securityadmin.sh" -h "$HOST" -p 9200 -icl \
    -cacert "$DIR/root-ca.pem" -cert "$DIR/admin.pem" -key "$DIR/admin-key.pem" "$@"
}
# securityadmin wants a yellow cluster; retry while the node is still allocating shards.
for attempt in 1 2 3 4 5 6; do
  if admin -backup "$WORK/current" >"$WORK/backup.log" 2>&1; then break; fi
  [[ $attempt == 6 ]] && { cat "$WORK/backup.log" >&2; exit 1; }
  sleep 10
done
merge "$WORK/current/internal_users.yml" "$DIR/internal_users.yml" >"$WORK/internal_users.yml"
admin -f "$WORK/internal_users.yml" -t internalusers
echo "sync-users: security index users updated from $DIR/internal_users.yml"
