# Shared helpers for scripts/*: sourced, never run. Reads ES_VERSION (default from .env),
# ES_HTTP_PORT (default 9200), ES_HOME_BASE (default <repo>/.elasticsearch).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
[ -n "${ES_VERSION:-}" ] || ES_VERSION="$(sed -n 's/^ES_VERSION=//p' "$REPO_ROOT/.env")"
ES_HTTP_PORT="${ES_HTTP_PORT:-9200}"
ES_HOME_BASE="${ES_HOME_BASE:-$REPO_ROOT/.elasticsearch}"
ES_HOME="$ES_HOME_BASE/elasticsearch-$ES_VERSION"
ES_RUN_DIR="$ES_HOME_BASE/run-$ES_VERSION-$ES_HTTP_PORT"
ES_USER="${ES_USER:-elasticsearch}"
VENV="$REPO_ROOT/.venv"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Creates .venv and installs the project (with its test extra) when pyproject.toml changed.
ensure_venv() {
    local stamp="$VENV/.installed"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$REPO_ROOT/pyproject.toml" -nt "$stamp" ]; then
        log "installing Python dependencies"
        "$VENV/bin/pip" install --quiet --upgrade pip
        "$VENV/bin/pip" install --quiet -e "$REPO_ROOT[test]"
        touch "$stamp"
    fi
}

es_is_up() { curl -fsS -m 2 "http://127.0.0.1:$1/_cluster/health" >/dev/null 2>&1; }

docker_engine_answers() {
    command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1
}
