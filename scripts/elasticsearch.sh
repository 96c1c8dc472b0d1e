#!/usr/bin/env bash
# Real Elasticsearch 8 test nodes for sonde's tests.
#
#   scripts/elasticsearch.sh fetch                      download + unpack once into the cache
#   scripts/elasticsearch.sh start [--mode http|https] [--name NAME]
#   scripts/elasticsearch.sh stop  [--name NAME | --all]
#   scripts/elasticsearch.sh status|url|env [--name NAME]
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
# file holds SONDE_ES_URL, SONDE_ES_CA, SONDE_ES_USER, SONDE_ES_PASSWORD, SONDE_ES_PID.
# Elasticsearch refuses to run as root: as root, the node runs as the system user
# `sonde-es`, created when missing.
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
HOME_DIR="$CACHE/elasticsearch-$VERSION"
STATE="${SONDE_ES_STATE_DIR:-${TMPDIR:-/tmp}/sonde-es}"
ES_USER=sonde-es
START_TIMEOUT=${SONDE_ES_START_TIMEOUT:-120}

say() { printf 'elasticsearch.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

java_home() {
    local candidate
    for candidate in "${ES_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* ; do
        [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
    done
    candidate=$(readlink -f "$(command -v java 2>/dev/null)" 2>/dev/null || true)
    [ -n "$candidate" ] && { echo "${candidate%/bin/java}"; return; }
    die "no JDK found: install openjdk-17-jre-headless or set ES_JAVA_HOME"
}

fetch() {
    [ -x "$HOME_DIR/bin/elasticsearch" ] && return
    mkdir -p "$CACHE"
    local zip="$CACHE/elasticsearch-$VERSION.zip"
    if [ ! -s "$zip" ]; then
        say "fetching $ARTIFACT from Maven Central"
        command -v mvn >/dev/null || die "maven is needed to fetch Elasticsearch (apt-get install maven)"
        mvn -q -B dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$CACHE" >&2 \
            || die "maven could not fetch $ARTIFACT"
    fi
    say "unpacking into $CACHE"
    local tmp
    tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$tmp"
    chmod -R a+rX "$tmp"
    chmod a+x "$tmp/elasticsearch-$VERSION"/bin/*
    mv "$tmp/elasticsearch-$VERSION" "$HOME_DIR"
    rmdir "$tmp"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the user the node runs as.
as_node_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$ES_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    # The unpacked tree must be readable by that user (see CACHE).
    if ! runuser -u "$ES_USER" -- test -r "$HOME_DIR/bin/elasticsearch"; then
        die "$ES_USER cannot read $HOME_DIR: set SONDE_CACHE_DIR to a directory it can reach"
    fi
}

node_pid() { # prints the pid of a running node NAME, or nothing
    local pidfile="$STATE/$1/pid"
    [ -s "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

curl_node() { # curl_node NAME PATH: a request to the node with its credentials
    local dir="$STATE/$1"
    # shellcheck disable=SC1091
    ( . "$dir/env"
      args=(-sS --max-time 5)
      [ -n "${SONDE_ES_CA:-}" ] && args+=(--cacert "$SONDE_ES_CA" -u "$SONDE_ES_USER:$SONDE_ES_PASSWORD")
      curl "${args[@]}" "$SONDE_ES_URL$2" )
}

make_certificates() { # make_certificates DIR: a test CA and a node certificate for 127.0.0.1
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sonde test ES CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/node.key" -out "$dir/node.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$dir/node.ext"
    openssl x509 -req -in "$dir/node.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/node.ext" -out "$dir/node.pem" 2>/dev/null
    rm -f "$dir/node.csr" "$dir/node.ext" "$dir/ca.srl" "$dir/ca.key"
}

start() {
    local mode=http name=""
    while [ $# -gt 0 ]; do
        case $1 in
            --mode) mode=$2; shift 2 ;;
            --name) name=$2; shift 2 ;;
            *) die "start: unknown argument $1" ;;
        esac
    done
    case $mode in http|https) ;; *) die "--mode must be http or https" ;; esac
    name=${name:-$mode}
    if [ -n "$(node_pid "$name")" ]; then
        say "$name is already running at $(url --name "$name")"
        return 0
    fi
    fetch
    ensure_user
    local java
    java=$(java_home)
    local dir="$STATE/$name"
    rm -rf "$dir"
    mkdir -p "$dir/data" "$dir/logs"
    cp -r "$HOME_DIR/config" "$dir/config"
    local http_port transport_port scheme=http
    http_port=$(free_port)
    transport_port=$(free_port)
    {
        echo "cluster.name: sonde-test-$name"
        echo "node.name: $name"
        echo "network.host: 127.0.0.1"
        echo "http.port: $http_port"
        echo "transport.port: $transport_port"
        echo "discovery.type: single-node"
        echo "path.data: $dir/data"
        echo "path.logs: $dir/logs"
        echo "cluster.routing.allocation.disk.threshold_enabled: false"
        echo "action.destructive_requires_name: false"
    } > "$dir/config/elasticsearch.yml"
    local user="" password=""
    if [ "$mode" = http ]; then
        echo "xpack.security.enabled: false" >> "$dir/config/elasticsearch.yml"
    else
        scheme=https
        make_certificates "$dir/config"
        {
            echo "xpack.security.enabled: true"
            echo "xpack.security.http.ssl.enabled: true"
            echo "xpack.security.http.ssl.certificate: node.pem"
            echo "xpack.security.http.ssl.key: node.key"
            echo "xpack.security.http.ssl.certificate_authorities: [ca.pem]"
            echo "xpack.security.transport.ssl.enabled: true"
            echo "xpack.security.transport.ssl.certificate: node.pem"
            echo "xpack.security.transport.ssl.key: node.key"
            echo "xpack.security.transport.ssl.certificate_authorities: [ca.pem]"
            echo "xpack.security.transport.ssl.verification_mode: certificate"
        } >> "$dir/config/elasticsearch.yml"
        user=sonde_test
        password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
        ES_PATH_CONF="$dir/config" ES_JAVA_HOME="$java" \
            "$HOME_DIR/bin/elasticsearch-users" useradd "$user" -p "$password" -r superuser >/dev/null
    fi
    [ "$(id -u)" -eq 0 ] && chown -R "$ES_USER" "$dir"
    chmod 755 "$STATE" 2>/dev/null || true
    {
        echo "SONDE_ES_URL=$scheme://127.0.0.1:$http_port"
        [ "$mode" = https ] && echo "SONDE_ES_CA=$dir/config/ca.pem"
        [ "$mode" = https ] && echo "SONDE_ES_USER=$user"
        [ "$mode" = https ] && echo "SONDE_ES_PASSWORD=$password"
        true
    } > "$dir/env"

    say "starting $name ($mode) on $scheme://127.0.0.1:$http_port"
    local started=$SECONDS
    as_node_user env ES_PATH_CONF="$dir/config" ES_JAVA_HOME="$java" \
        ES_JAVA_OPTS="-Xms512m -Xmx512m" \
        "$HOME_DIR/bin/elasticsearch" -d -p "$dir/pid" >"$dir/logs/stdout.log" 2>&1 \
        || { tail -n 40 "$dir/logs/stdout.log" >&2; die "$name failed to start"; }
    while :; do
        local health
        health=$(curl_node "$name" "/_cluster/health" 2>/dev/null || true)
        case $health in *'"status":"green"'*|*'"status":"yellow"'*) break ;; esac
        if [ $((SECONDS - started)) -ge "$START_TIMEOUT" ]; then
            tail -n 60 "$dir/logs/sonde-test-$name.log" >&2 2>/dev/null || tail -n 60 "$dir/logs/stdout.log" >&2
            stop_node "$name"
            die "$name did not become healthy within ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    echo "SONDE_ES_PID=$(cat "$dir/pid")" >> "$dir/env"
    say "$name ready in $((SECONDS - started)) s"
}

stop_node() {
    local name=$1 pid
    pid=$(node_pid "$name")
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name did not stop in 30 s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name"
    fi
    rm -rf "${STATE:?}/$name"
}

stop() {
    case ${1:-} in
        --all)
            [ -d "$STATE" ] || return 0
            local d
            for d in "$STATE"/*/; do [ -d "$d" ] && stop_node "$(basename "$d")"; done
            ;;
        --name) stop_node "$2" ;;
        "") stop_node http ;;
        *) die "stop: unknown argument $1" ;;
    esac
}

name_arg() { # --name NAME, default http
    if [ "${1:-}" = --name ] && [ -n "${2:-}" ]; then echo "$2"; else echo http; fi
}

url() {
    local name
    name=$(name_arg "$@")
    [ -f "$STATE/$name/env" ] || die "no node named $name"
    sed -n 's/^SONDE_ES_URL=//p' "$STATE/$name/env"
}

status() {
    local name
    name=$(name_arg "$@")
    if [ -z "$(node_pid "$name")" ]; then
        echo "$name: not running"
        return 1
    fi
    echo "$name: running at $(url --name "$name")"
    curl_node "$name" "/_cluster/health"
    echo
}

env_file() {
    local name
    name=$(name_arg "$@")
    [ -f "$STATE/$name/env" ] || die "no node named $name"
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
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
