#!/usr/bin/env bash
# Real Elasticsearch 8 test nodes for sonde's tests.
#
#   scripts/elasticsearch.sh fetch                      download + unpack once into the cache
#   scripts/elasticsearch.sh start [--mode http|https] [--name NAME]
#   scripts/elasticsearch.sh stop  [--name NAME | --all]
#   scripts/elasticsearch.sh status [--name NAME]       exits 1 when NAME is not running
#   scripts/elasticsearch.sh url    [--name NAME]       prints the node's URL
#   scripts/elasticsearch.sh env    [--name NAME]       eval "$(scripts/elasticsearch.sh env --name https)"
#
# NAME defaults to the mode, and the mode to http. `start` is idempotent: a node
# already running under NAME is left alone. `stop` exits 0 when nothing runs.
#
# The distribution is Maven Central's integ-test zip
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:8.19.21): server core,
# x-pack-core, x-pack-security and netty; no bundled JDK (OpenJDK 17 is used), no
# `GET /`, ingest, ILM or API keys. It is fetched with maven into
# $SONDE_CACHE_DIR/elasticsearch (default ~/.cache/sonde, or /var/cache/sonde
# as root) and reused from there.
#
# Modes:
#   http   security off, plain HTTP, no credentials;
#   https  Security Onion's mode: HTTPS with a certificate from a test CA made here
#          with openssl, and a file-realm superuser with a random password.
# Each node listens on 127.0.0.1 on free ports, with its own config, data and log
# directories under ${SONDE_ES_STATE_DIR:-${TMPDIR:-/tmp}/sonde-es}/NAME; its `env`
# file holds SONDE_ES_URL, SONDE_ES_PID and, in https mode, SONDE_ES_CA,
# SONDE_ES_USER and SONDE_ES_PASSWORD.
# Elasticsearch refuses to run as root: as root, the node runs as the system user
# `sonde-es`, created when missing.
#
# Environment: SONDE_CACHE_DIR, SONDE_ES_STATE_DIR, SONDE_ES_START_TIMEOUT (seconds,
# default 120), ES_JAVA_HOME (default: an OpenJDK 17 found on the machine).
set -euo pipefail

VERSION=8.19.21
ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${VERSION}:zip"
# As root the cache sits outside /root, so the unprivileged node user can read it.
if [ -n "${SONDE_CACHE_DIR:-}" ]; then
    CACHE="$SONDE_CACHE_DIR/elasticsearch"
elif [ "$(id -u)" -eq 0 ]; then
    CACHE=/var/cache/sonde/elasticsearch
else
    CACHE="$HOME/.cache/sonde/elasticsearch"
fi
HOME_DIR="$CACHE/elasticsearch-$VERSION"   # the pristine unpacked tree, shared read-only
STATE="${SONDE_ES_STATE_DIR:-${TMPDIR:-/tmp}/sonde-es}"
ES_USER=sonde-es
START_TIMEOUT=${SONDE_ES_START_TIMEOUT:-120}
STOP_TIMEOUT=30
HEAP=512m

say() { printf 'elasticsearch.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The comment block at the top of this file is the help text.
usage() { sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Milliseconds since the epoch, for "ready in N s".
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
elapsed() { # elapsed START_MS: seconds since START_MS, one decimal
    local ms=$(( $(now_ms) - $1 ))
    printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# ---------------------------------------------------------------- the distribution

java_home() { # prints a JDK home for ES_JAVA_HOME: 17 preferred, else the default java
    local candidate
    for candidate in "${ES_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/*-17-*; do
        [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
    done
    candidate=$(readlink -f "$(command -v java 2>/dev/null)" 2>/dev/null || true)
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "${candidate%/bin/java}"; return; }
    die "no JDK found: install openjdk-17-jre-headless or set ES_JAVA_HOME"
}

fetch() { # downloads the zip and unpacks it into the cache, once
    [ -x "$HOME_DIR/bin/elasticsearch" ] && return
    mkdir -p "$CACHE"
    # Concurrent callers (parallel CI steps) wait for each other here.
    exec 9>"$CACHE/.lock"
    flock 9
    if [ -x "$HOME_DIR/bin/elasticsearch" ]; then exec 9>&-; return; fi
    local zip="$CACHE/elasticsearch-$VERSION.zip"
    if [ ! -s "$zip" ]; then
        say "fetching $ARTIFACT from Maven Central"
        command -v mvn >/dev/null || die "maven is needed to fetch Elasticsearch (apt-get install maven)"
        mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$CACHE" >&2 \
            || die "maven could not fetch $ARTIFACT"
    fi
    say "unpacking $zip into $CACHE"
    rm -rf "$CACHE"/unpack.*
    local tmp
    tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
    # python's zipfile is always there (unzip is not); it drops the file modes, so
    # they are put back from the archive.
    python3 - "$zip" "$tmp" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        path = archive.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode and not info.is_dir():
            os.chmod(path, mode)
EOF
    chmod -R a+rX "$tmp"
    mv "$tmp/elasticsearch-$VERSION" "$HOME_DIR"
    rmdir "$tmp"
    exec 9>&-
}

ensure_user() { # as root: the unprivileged user the node runs as
    is_root || return 0
    if ! id "$ES_USER" >/dev/null 2>&1; then
        say "creating system user $ES_USER"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    fi
    # The unpacked tree must be readable by that user (see CACHE).
    runuser -u "$ES_USER" -- test -r "$HOME_DIR/bin/elasticsearch" \
        || die "$ES_USER cannot read $HOME_DIR: set SONDE_CACHE_DIR to a directory it can reach"
}

# ---------------------------------------------------------------- nodes

check_name() {
    [[ $1 =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad node name '$1' (letters, digits, . _ - only)"
}

# Each node's JVM carries -Dsonde.es.node=DIR (through ES_JAVA_OPTS) on its command
# line, so it can be found without its pid file, and a stale pid file whose number
# now belongs to another process is not taken for it.
node_marker() { echo "-Dsonde.es.node=$STATE/$1"; }

is_node_process() { # is_node_process PID NAME
    local cmdline
    cmdline=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    grep -qxF -- "$(node_marker "$2")" <<<"$cmdline"
}

node_pids() { # prints the pids of node NAME's JVM (normally one), pid file first
    local name=$1 pid
    if [ -s "$STATE/$name/pid" ]; then
        pid=$(cat "$STATE/$name/pid")
        is_node_process "$pid" "$name" && echo "$pid"
    fi
    for pid in $(pgrep -f -- "$(node_marker "$name")" 2>/dev/null || true); do
        is_node_process "$pid" "$name" && echo "$pid"
    done | { grep -vxF "$(cat "$STATE/$name/pid" 2>/dev/null || echo none)" || true; }
    return 0
}

node_pid() { # prints the pid of running node NAME, or nothing
    node_pids "$1" | sed -n 1p  # sed, not head: reads all, so no SIGPIPE under pipefail
}

env_var() { # env_var NAME VAR: one value of node NAME's env file
    local file="$STATE/$1/env"
    [ -f "$file" ] || return 0
    # shellcheck disable=SC1090
    (. "$file"; printf '%s' "${!2:-}")
}

curl_node() { # curl_node NAME PATH [curl args...]: a request with the node's credentials
    local name=$1 path=$2 url ca
    shift 2
    url=$(env_var "$name" SONDE_ES_URL)
    ca=$(env_var "$name" SONDE_ES_CA)
    local args=(-sS --max-time 5)
    [ -n "$ca" ] && args+=(--cacert "$ca" -u "$(env_var "$name" SONDE_ES_USER):$(env_var "$name" SONDE_ES_PASSWORD)")
    curl "${args[@]}" "$@" "$url$path"
}

free_ports() { # prints two distinct free TCP ports on 127.0.0.1
    python3 -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
'
}

make_certificates() { # make_certificates DIR: a test CA and a node certificate for 127.0.0.1
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=sonde test Elasticsearch CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/node.key" -out "$dir/node.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$dir/node.ext"
    openssl x509 -req -in "$dir/node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 7 -extfile "$dir/node.ext" -out "$dir/node.pem" 2>/dev/null
    # The CA key is not needed any more: nothing else gets signed.
    rm -f "$dir/node.csr" "$dir/node.ext" "$dir/ca.srl" "$dir/ca.key"
}

write_config() { # write_config DIR NAME MODE HTTP_PORT TRANSPORT_PORT
    local dir=$1 name=$2 mode=$3
    {
        echo "# Written by scripts/elasticsearch.sh for the test node $name ($mode)."
        echo "cluster.name: sonde-test-$name"
        echo "node.name: $name"
        echo "network.host: 127.0.0.1"
        echo "http.port: $4"
        echo "transport.port: $5"
        echo "discovery.type: single-node"
        echo "path.data: $dir/data"
        echo "path.logs: $dir/logs"
        echo "# A nearly full disk must not turn indices read-only under the tests."
        echo "cluster.routing.allocation.disk.threshold_enabled: false"
        echo "action.destructive_requires_name: false"
        echo "# Accepted by x-pack-core although this distribution has no ML module."
        echo "xpack.ml.enabled: false"
        if [ "$mode" = http ]; then
            echo "xpack.security.enabled: false"
        else
            echo "xpack.security.enabled: true"
            echo "xpack.security.http.ssl.enabled: true"
            echo "xpack.security.http.ssl.certificate: node.pem"
            echo "xpack.security.http.ssl.key: node.key"
            echo "xpack.security.http.ssl.certificate_authorities: [ca.pem]"
            # Without transport TLS a single loopback node still starts (bootstrap
            # checks only warn), but it logs a warning; the same certificate does.
            echo "xpack.security.transport.ssl.enabled: true"
            echo "xpack.security.transport.ssl.certificate: node.pem"
            echo "xpack.security.transport.ssl.key: node.key"
            echo "xpack.security.transport.ssl.certificate_authorities: [ca.pem]"
            echo "xpack.security.transport.ssl.verification_mode: certificate"
        fi
    } >"$dir/config/elasticsearch.yml"
}

show_logs() { # show_logs NAME: the end of the node's logs, on stderr
    local dir="$STATE/$1" log
    for log in "$dir/logs/stdout.log" "$dir/logs/sonde-test-$1.log"; do
        [ -s "$log" ] || continue
        say "--- last lines of $log"
        tail -n 40 "$log" >&2
    done
}

launch() { # launch NAME JAVA_HOME DEADLINE_S: runs the daemon; 0 started, 1 failed, 2 port taken, 3 timed out
    local name=$1 java=$2 dir="$STATE/$1"
    local as_user=()
    is_root && as_user=(runuser -u "$ES_USER" --)
    # `-d` returns once the node has started (or failed); `timeout` bounds it.
    # The output goes to a file, never to the caller: a `$(...)` around this
    # script must not wait for the daemon.
    if timeout --kill-after=10 "$3" ${as_user[@]+"${as_user[@]}"} \
        env ES_PATH_CONF="$dir/config" ES_JAVA_HOME="$java" \
        ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP $(node_marker "$name")" \
        "$HOME_DIR/bin/elasticsearch" -d -p "$dir/pid" \
        </dev/null >"$dir/logs/stdout.log" 2>&1; then
        return 0
    else
        local status=$?
        [ "$status" -eq 124 ] || [ "$status" -eq 137 ] && return 3
    fi
    if grep -qs -e 'BindException' -e 'Address already in use' \
        "$dir/logs/stdout.log" "$dir/logs/sonde-test-$name.log"; then
        return 2
    fi
    return 1
}

start() {
    local mode=http name=""
    while [ $# -gt 0 ]; do
        case $1 in
            --mode) [ $# -ge 2 ] || die "--mode needs a value"; mode=$2; shift 2 ;;
            --name) [ $# -ge 2 ] || die "--name needs a value"; name=$2; shift 2 ;;
            *) die "start: unknown argument $1" ;;
        esac
    done
    case $mode in http|https) ;; *) die "--mode must be http or https" ;; esac
    name=${name:-$mode}
    check_name "$name"
    local pid
    pid=$(node_pid "$name")
    if [ -n "$pid" ]; then
        say "$name is already running at $(env_var "$name" SONDE_ES_URL) (pid $pid)"
        return 0
    fi
    fetch
    ensure_user
    local java dir="$STATE/$name" scheme=http user="" password=""
    java=$(java_home)
    [ "$mode" = https ] && scheme=https
    mkdir -p "$STATE"
    chmod 755 "$STATE" 2>/dev/null || true
    local started http_port transport_port status
    started=$(now_ms)
    for _ in 1 2 3; do
        # Everything under the node's directory is fresh for each start.
        rm -rf "$dir"
        mkdir -p "$dir/data" "$dir/logs"
        cp -r "$HOME_DIR/config" "$dir/config"
        read -r http_port transport_port < <(free_ports)
        [ -n "${transport_port:-}" ] || die "could not find free ports"
        write_config "$dir" "$name" "$mode" "$http_port" "$transport_port"
        if [ "$mode" = https ]; then
            make_certificates "$dir/config"
            user=sonde_test
            password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
            ES_PATH_CONF="$dir/config" ES_JAVA_HOME="$java" \
                "$HOME_DIR/bin/elasticsearch-users" useradd "$user" -p "$password" -r superuser >/dev/null
        fi
        if is_root; then
            chown -R "$ES_USER" "$dir"
            runuser -u "$ES_USER" -- test -w "$dir/data" \
                || die "$ES_USER cannot reach $dir: set SONDE_ES_STATE_DIR to a directory it can reach"
        fi
        {
            printf 'SONDE_ES_URL=%q\n' "$scheme://127.0.0.1:$http_port"
            if [ "$mode" = https ]; then
                printf 'SONDE_ES_CA=%q\n' "$dir/config/ca.pem"
                printf 'SONDE_ES_USER=%q\n' "$user"
                printf 'SONDE_ES_PASSWORD=%q\n' "$password"
            fi
        } >"$dir/env"
        chmod 600 "$dir/env"

        say "starting $name ($mode) on $scheme://127.0.0.1:$http_port"
        status=0
        launch "$name" "$java" "$START_TIMEOUT" || status=$?
        [ "$status" -eq 2 ] || break
        say "a port of $name was taken meanwhile: retrying on other ports"
        stop_node "$name" quiet
    done
    if [ "$status" -ne 0 ]; then
        show_logs "$name"
        stop_node "$name" quiet
        [ "$status" -eq 3 ] && die "$name did not start within ${START_TIMEOUT}s"
        die "$name failed to start"
    fi

    # The daemon is up; wait until the cluster answers green or yellow.
    local health
    while :; do
        health=$(curl_node "$name" /_cluster/health 2>/dev/null || true)
        case $health in *'"status":"green"'* | *'"status":"yellow"'*) break ;; esac
        if [ -z "$(node_pid "$name")" ]; then
            show_logs "$name"
            stop_node "$name" quiet
            die "$name exited while starting"
        fi
        if [ $(( $(now_ms) - started )) -ge $((START_TIMEOUT * 1000)) ]; then
            show_logs "$name"
            stop_node "$name" quiet
            die "$name did not become healthy within ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    pid=$(node_pid "$name")
    printf 'SONDE_ES_PID=%q\n' "$pid" >>"$dir/env"
    say "$name ready in $(elapsed "$started") s (pid $pid)"
}

stop_node() { # stop_node NAME [quiet]: stops the node and removes its directory
    local name=$1 dir="$STATE/$1" pid pids
    pids=$(node_pids "$name")
    for pid in $pids; do
        [ -n "${2:-}" ] || say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((STOP_TIMEOUT * 2)) ]; do
            sleep 0.5
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name did not stop within ${STOP_TIMEOUT}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
        fi
        [ -n "${2:-}" ] || say "stopped $name"
    done
    # Data, logs, config, certificates and the env file: all of it was per start.
    rm -rf "${dir:?}"
}

stop() {
    case ${1:-} in
        --all)
            [ -d "$STATE" ] || return 0
            local d
            for d in "$STATE"/*/; do
                [ -d "$d" ] && stop_node "$(basename "$d")"
            done
            return 0
            ;;
        *) local name; name=$(name_arg "$@"); stop_node "$name" ;;
    esac
}

name_arg() { # name_arg [--name NAME]: prints NAME, default http
    case $# in
        0) echo http ;;
        2) [ "$1" = --name ] || die "unknown argument $1"; check_name "$2"; echo "$2" ;;
        *) die "expected [--name NAME]" ;;
    esac
}

url() {
    local name
    name=$(name_arg "$@")
    [ -f "$STATE/$name/env" ] || die "no node named $name (under $STATE)"
    env_var "$name" SONDE_ES_URL
    echo
}

status() {
    local name pid health
    name=$(name_arg "$@")
    pid=$(node_pid "$name")
    if [ -z "$pid" ]; then
        echo "$name: not running"
        return 1
    fi
    health=$(curl_node "$name" /_cluster/health 2>&1 || true)
    echo "$name: running (pid $pid) at $(env_var "$name" SONDE_ES_URL)"
    echo "health: $health"
}

env_file() {
    local name
    name=$(name_arg "$@")
    [ -f "$STATE/$name/env" ] || die "no node named $name (under $STATE)"
    cat "$STATE/$name/env"
}

command=${1:-}
[ $# -gt 0 ] && shift
case $command in
    fetch) fetch ;;
    start) start "$@" ;;
    stop) stop "$@" ;;
    status) status "$@" ;;
    url) url "$@" ;;
    env) env_file "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
