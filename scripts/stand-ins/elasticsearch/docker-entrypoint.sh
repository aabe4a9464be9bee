#!/bin/bash
# As the official image's entrypoint: `eswrapper` (or options) starts the node, with each
# environment variable whose name holds a dot as an `-E name=value` setting and
# ELASTIC_PASSWORD as the elastic user's bootstrap password; any other command runs as given.
set -euo pipefail

if [ "$#" -gt 0 ] && [ "$1" != eswrapper ] && [ "${1:0:1}" != - ]; then
    exec "$@"
fi
[ "${1:-}" = eswrapper ] && shift

settings=()
while IFS= read -r -d '' variable; do
    name="${variable%%=*}"
    case "$name" in *.*) settings+=(-E "$variable") ;; esac
done < /proc/self/environ

if [ -n "${ELASTIC_PASSWORD:-}" ]; then
    [ -f config/elasticsearch.keystore ] || elasticsearch-keystore create >/dev/null
    printf '%s' "$ELASTIC_PASSWORD" | elasticsearch-keystore add --force --stdin bootstrap.password >/dev/null
fi

exec elasticsearch "${settings[@]}" "$@"
