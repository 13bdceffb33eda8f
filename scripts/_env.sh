# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Creates .venv on first use and (re)installs the project when pyproject.toml changed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# pip in the project's venv, without one kind of noise: a machine pip config may list
# file:// index folders that lack a page for some package, and pip warns once per package and
# folder ("Location '...' is ignored"), which --quiet keeps since it is a WARNING. Every other
# warning and error still shows.
venv_pip() {
    .venv/bin/python -m pip "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored: " >&2)
}

ensure_venv() {  # $1: extras, e.g. "dev" or ""
    local extras="${1:-}" python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    # pyproject.toml holds the dependencies; setup.cfg only tool settings.
    local stamp=".venv/.installed-${extras:-base}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        venv_pip install --quiet --upgrade pip
        venv_pip install --quiet -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}

# The test suite talks to real PostgreSQL, Redis and Mosquitto on loopback.
ensure_services() {
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    fi
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    fi
    if command -v mosquitto >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
        mosquitto -d -c /etc/mosquitto/mosquitto.conf
    fi
    for _ in $(seq 50); do
        pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "PostgreSQL or Redis did not come up" >&2
    return 1
}

# Browser tests drive Debian's Chromium (no browser download: the network is closed);
# the spoken prompts are made with espeak-ng and resampled by sox; a CJK font lets the
# screenshots show Chinese.
ensure_system_packages() {
    local missing=() sudo=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    command -v sox >/dev/null || missing+=(sox)
    fc-list :lang=zh family 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        echo "Installing ${missing[*]} with apt-get" >&2
        # A fresh machine has no package lists yet: install fails without an update first.
        "${sudo[@]}" apt-get update -q >/dev/null
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
