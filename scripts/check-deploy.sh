#!/usr/bin/env bash
# Validates the deployment assets under deploy/, for CI (scripts/test.sh) and by
# hand. On a fresh Debian machine it:
#   1. installs what is missing, once: systemd (for systemd-analyze) and
#      python3-venv from Debian; kustomize, built with `go install` from the Go
#      module proxy into $cache/go-bin; kubernetes-validate (which ships the
#      Kubernetes JSON schemas: nothing is fetched when it runs) from PyPI into
#      a venv under $cache;
#   2. systemd: `systemd-analyze verify` on deploy/systemd/*.service, unmodified,
#      in a scratch root where /usr/bin/sonde-* are stub executables (verify
#      insists that ExecStart= binaries exist; --root is the only thing that
#      differs from a real install), and `systemd-analyze security --offline`
#      with a ceiling on the exposure score;
#   3. Kubernetes: `kustomize build` of deploy/k8s/base and of every overlay,
#      then every rendered object validated against the Kubernetes schemas in
#      strict mode (unknown fields fail) for the oldest and newest Kubernetes
#      versions named below. cert-manager's kinds have no schema there: they are
#      listed in SKIPPED_KINDS and checked structurally instead;
#   4. the sonde configs inside the ConfigMaps: TOML syntax, every key known to
#      deploy/config/*.example.toml, every file they name mounted into the
#      container from a Secret or ConfigMap key, ports consistent with the
#      containers and Services. Then, when the binaries are there
#      (target/debug, or $SONDE_BIN_DIR) and this runs as root, the real
#      `--check-config` on the exact ConfigMap text: --check-config also opens
#      the certificates and secrets the config names, at their absolute paths
#      (/etc/sonde/tls/...), so it runs in a private mount namespace where /etc
#      and /var are overlays holding a PKI made by `sonde-collector certs init`
#      at those paths, as the Secrets would. The config is not rewritten and
#      nothing on the machine changes. Without root or binaries that step is
#      reported as skipped, and only the checks before it ran.
# Exits non-zero, saying what failed, on any problem.
#
# Environment: SONDE_CACHE_DIR (default ~/.cache/sonde, or /var/cache/sonde as
# root), SONDE_BIN_DIR (default target/debug).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

# kustomize v5.8.2 is the newest whose go.mod the local Go (1.26) accepts; v5.8.3
# asks for Go 1.27.
KUSTOMIZE_VERSION=v5.8.2
KUBERNETES_VALIDATE_VERSION=1.37.0
# Schemas to validate against: the oldest Kubernetes we claim and the newest
# the package ships.
K8S_VERSIONS="1.30.0 1.37.0"
# systemd-analyze security's exposure, times ten: fail above 2.0 (today the
# probe scores 1.6 and the collector 1.1; 0 is best, 10 worst).
SYSTEMD_EXPOSURE_MAX=20

if [ -n "${SONDE_CACHE_DIR:-}" ]; then
    cache=$SONDE_CACHE_DIR
elif [ "$(id -u)" -eq 0 ]; then
    cache=/var/cache/sonde
else
    cache=$HOME/.cache/sonde
fi
bin_dir=${SONDE_BIN_DIR:-$root/target/debug}

say() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'check-deploy: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sonde-check-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- 1. tools
apt_install() {
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing $*"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# Debian's python3 has no ensurepip (so no venv) without python3-venv.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# Go's usual place on these machines, when it is not on PATH already.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    PATH=$PATH:/usr/local/go/bin
fi

kustomize_dir=$cache/go-bin/kustomize-$KUSTOMIZE_VERSION
kustomize=$kustomize_dir/kustomize
if [ ! -x "$kustomize" ]; then
    command -v go >/dev/null 2>&1 \
        || fail "kustomize is not in $kustomize_dir and there is no Go toolchain to build it (go install needs Go 1.26 or newer)"
    say "building kustomize $KUSTOMIZE_VERSION with $(go version | cut -d' ' -f3) into $kustomize_dir"
    mkdir -p "$cache/go-bin"
    # GOTOOLCHAIN=local: use this Go or fail, never fetch another one.
    GOTOOLCHAIN=local GOBIN="$kustomize_dir.tmp" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" \
        GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
        || fail "go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
    rm -rf "$kustomize_dir" && mv "$kustomize_dir.tmp" "$kustomize_dir"
    # The build cache only speeds up rebuilding the same thing: drop it.
    rm -rf "$cache/go/build"
fi

venv=$cache/venv/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
# Rebuilt when unfinished, or when the Python it was made from is gone.
if [ ! -e "$venv/.complete" ] || ! "$venv/bin/python" -c 'import kubernetes_validate, tomllib' 2>/dev/null; then
    say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || fail "python3 -m venv $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        || fail "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    touch "$venv/.complete"
fi
"$venv/bin/python" -c 'import tomllib' 2>/dev/null \
    || fail "the venv's Python ($("$venv/bin/python" --version 2>&1)) has no tomllib: Python 3.11 or newer is needed"

# ---------------------------------------------------------------- 2. systemd
say "systemd units: systemd-analyze verify and security"
sysroot=$work/sysroot
mkdir -p "$sysroot/usr/bin" "$sysroot/usr/lib/systemd" "$sysroot/etc/systemd/system"
# The targets and services the units refer to (network-online.target...).
for dir in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$dir" ]; then cp -a "$dir" "$sysroot/usr/lib/systemd/"; break; fi
done
for name in sonde-probe sonde-collector; do
    printf '#!/bin/sh\nexit 0\n' >"$sysroot/usr/bin/$name"
    chmod 755 "$sysroot/usr/bin/$name"
done
units=()
for unit in deploy/systemd/*.service; do
    cp "$unit" "$sysroot/etc/systemd/system/"
    units+=("$(basename "$unit")")
done
# verify exits 0 on unknown keys and bad values ("ignoring"): any output fails.
if ! out=$(systemd-analyze verify --root="$sysroot" --man=no "${units[@]}" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify deploy/systemd: ${units[*]}"
fi
for unit in "${units[@]}"; do
    if ! out=$(systemd-analyze security --offline=yes --root="$sysroot" \
        --threshold="$SYSTEMD_EXPOSURE_MAX" "$unit" 2>&1); then
        printf '%s\n' "$out" >&2
        fail "systemd-analyze security $unit: exposure above $((SYSTEMD_EXPOSURE_MAX / 10)).$((SYSTEMD_EXPOSURE_MAX % 10))"
    fi
    printf '%s\n' "$out" | grep 'Overall exposure level' | sed 's/^→ *//' >&2
done
if command -v systemd-sysusers >/dev/null 2>&1; then
    # Creates the users in an empty scratch root: a syntax error fails.
    mkdir -p "$work/usersroot/etc" "$work/usersroot/usr/lib/sysusers.d"
    cp deploy/systemd/sonde.sysusers.conf "$work/usersroot/usr/lib/sysusers.d/sonde.conf"
    if ! out=$(systemd-sysusers --root="$work/usersroot" 2>&1) \
        || ! grep -q '^sonde-probe:' "$work/usersroot/etc/passwd" \
        || ! grep -q '^sonde-collector:' "$work/usersroot/etc/passwd"; then
        printf '%s\n' "$out" >&2
        fail "deploy/systemd/sonde.sysusers.conf does not create the users sonde-probe and sonde-collector"
    fi
fi

# ---------------------------------------------------------------- 3. kustomize
say "kustomize build ($("$kustomize" version 2>/dev/null || echo "$KUSTOMIZE_VERSION"))"
mkdir -p "$work/render"
targets=(deploy/k8s/base)
for dir in deploy/k8s/overlays/*/; do
    [ -e "$dir/kustomization.yaml" ] && targets+=("${dir%/}")
done
for target in "${targets[@]}"; do
    name=$(basename "$target")
    if ! "$kustomize" build "$target" >"$work/render/$name.yaml" 2>"$work/render/$name.err"; then
        cat "$work/render/$name.err" >&2
        fail "kustomize build $target"
    fi
done

# ---------------------------------------------------------------- 4. validate
say "Kubernetes schemas (strict, $K8S_VERSIONS) and the sonde configs in the ConfigMaps"
can_namespace=no
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1; then
    can_namespace=yes
fi
"$venv/bin/python" - "$root" "$work" "$bin_dir" "$can_namespace" $K8S_VERSIONS <<'PYTHON' \
    || fail "deploy/k8s (see above)"
"""Validates the rendered manifests; see the header of scripts/check-deploy.sh."""
import os
import re
import subprocess
import sys
import tomllib

import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import yaml

root, work, bin_dir, can_namespace, *k8s_versions = sys.argv[1:]
render_dir = os.path.join(work, "render")
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


# kubernetes-validate re-reads its (large) definitions file for every object:
# read each file once.
_schema_cache = {}
_schema_contents = kv_utils.schema_contents


def cached_schema_contents(filename, desired_version):
    key = (filename, desired_version)
    if key not in _schema_cache:
        _schema_cache[key] = _schema_contents(filename, desired_version)
    return _schema_cache[key]


kv_utils.schema_contents = cached_schema_contents

# Custom resources have no schema in kubernetes-validate; these are checked by
# check_cert_manager() below. Any other kind without a schema fails.
SKIPPED_KINDS = {
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("cert-manager.io/v1", "Certificate"),
}

# ------------------------------------------------------------------ TOML keys
def flatten(table, prefix=""):
    """Dotted key paths of a TOML document; arrays of tables become NAME[]."""
    keys = set()
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            if path == "flow.protocol_idle_timeouts":  # a map: any protocol name
                keys.add(path + ".*")
                continue
            if set(value) <= {"file", "env"} and value:  # a secret source
                keys.add(path)
                continue
            keys |= flatten(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= flatten(item, path + "[].")
        else:
            keys.add(path)
    return keys


def example_keys(kind):
    """Keys of deploy/config/KIND.example.toml, commented-out ones included."""
    path = os.path.join(root, "deploy", "config", f"{kind}.example.toml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    keys = flatten(tomllib.loads(text))
    # Optional keys appear commented out (`# server_name = "..."`): count them,
    # when uncommenting them still gives valid TOML.
    uncommented = re.sub(r"(?m)^#\s?([a-z_]+\s*=\s*\S.*)$", r"\1", text)
    try:
        keys |= flatten(tomllib.loads(uncommented))
    except tomllib.TOMLDecodeError:
        pass
    return keys


EXAMPLE_KEYS = {kind: example_keys(kind) for kind in ("probe", "collector")}

# Keys that name a file the binary opens, and what stands in for it when
# --check-config runs (see run_check_config).
FILE_KEYS = {
    "probe": {
        "collector.tls.ca": "ca",
        "collector.tls.cert": "probe_cert",
        "collector.tls.key": "probe_key",
    },
    "collector": {
        "server.tls.ca": "ca",
        "server.tls.cert": "collector_cert",
        "server.tls.key": "collector_key",
        "elasticsearch.ca": "ca",
        "elasticsearch.password": "secret",
        "elasticsearch.api_key": "secret",
        "syslog.ca": "ca",
        "enrich.geoip_city": None,
        "enrich.geoip_asn": None,
    },
}
# Directories the binary writes: they must be on a writable volume (the root
# file system is read-only).
DIR_KEYS = {"probe": [], "collector": ["spool.dir", "file.dir"]}


def lookup(config, dotted):
    value = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def file_paths(kind, config):
    """(key, absolute path, stand-in) for every file the config names."""
    out = []
    for key, role in FILE_KEYS[kind].items():
        value = lookup(config, key)
        if isinstance(value, dict):  # a secret: { file = ... } or { env = ... }
            value = value.get("file")
        if isinstance(value, str):
            out.append((key, value, role))
    return out


# ------------------------------------------------------------ object helpers
def objects_of(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs, kind, name):
    for d in objects_of(docs, kind):
        if d["metadata"]["name"] == name:
            return d
    return None


def pod_spec(obj):
    if obj.get("kind") in ("DaemonSet", "StatefulSet", "Deployment"):
        return obj["spec"]["template"]["spec"]
    return None


def container_port(container, port):
    """A probe's port (number or name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def listen_port(address):
    return int(address.rsplit(":", 1)[1])


# ------------------------------------------------------------- cert-manager
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
CERT_USAGES = {
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign",
    "encipher only", "decipher only", "any", "server auth", "client auth",
    "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
}
CERT_SPEC_KEYS = {
    "secretName", "commonName", "dnsNames", "ipAddresses", "uris",
    "emailAddresses", "otherNames", "usages", "duration", "renewBefore",
    "renewBeforePercentage", "privateKey", "issuerRef", "isCA", "subject",
    "literalSubject", "secretTemplate", "keystores", "revisionHistoryLimit",
    "additionalOutputFormats", "nameConstraints", "encodeUsagesInRequest",
}
ISSUER_TYPES = {"selfSigned", "ca", "acme", "vault", "venafi"}


def hours(duration):
    total = 0.0
    for number, _, unit in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", duration):
        total += float(number) * {"h": 1, "m": 1 / 60, "s": 1 / 3600}.get(unit, 0)
    return total


def check_cert_manager(where, obj, docs):
    """What the CRDs' schemas would catch in what we write, and the links
    between the objects (an Issuer that exists, a Secret the pods mount)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return problem(where, "spec is missing")
    if not obj.get("metadata", {}).get("name"):
        problem(where, "metadata.name is missing")
    if obj["kind"] in ("Issuer", "ClusterIssuer"):
        types = set(spec) & ISSUER_TYPES
        if len(types) != 1 or set(spec) - ISSUER_TYPES:
            problem(where, f"spec must hold exactly one of {sorted(ISSUER_TYPES)} (got {sorted(spec)})")
        if "ca" in spec:
            secret = spec["ca"].get("secretName") if isinstance(spec["ca"], dict) else None
            if not secret:
                problem(where, "spec.ca.secretName is missing")
            elif not any(c["spec"].get("secretName") == secret for c in objects_of(docs, "Certificate")) \
                    and by_name(docs, "Secret", secret) is None:
                problem(where, f"spec.ca.secretName {secret}: no Certificate or Secret makes it")
        return
    unknown = set(spec) - CERT_SPEC_KEYS
    if unknown:
        problem(where, f"unknown spec fields {sorted(unknown)}")
    if not spec.get("secretName"):
        problem(where, "spec.secretName is missing")
    if not any(spec.get(k) for k in ("commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses")):
        problem(where, "no subject: set commonName, dnsNames, ipAddresses, uris or emailAddresses")
    ref = spec.get("issuerRef") or {}
    if not ref.get("name"):
        problem(where, "spec.issuerRef.name is missing")
    elif ref.get("kind", "Issuer") == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io":
        if by_name(docs, "Issuer", ref["name"]) is None:
            problem(where, f"spec.issuerRef: no Issuer {ref['name']} in this render")
    usages = set(spec.get("usages", []))
    if usages - CERT_USAGES:
        problem(where, f"unknown usages {sorted(usages - CERT_USAGES)}")
    for key in ("duration", "renewBefore"):
        if key in spec and not GO_DURATION.match(str(spec[key])):
            problem(where, f"spec.{key} {spec[key]!r} is not a duration such as 2160h")
    if "duration" in spec and "renewBefore" in spec and hours(spec["renewBefore"]) >= hours(spec["duration"]):
        problem(where, "spec.renewBefore must be shorter than spec.duration")
    key = spec.get("privateKey", {})
    if key.get("algorithm", "RSA") not in ("RSA", "ECDSA", "Ed25519"):
        problem(where, f"spec.privateKey.algorithm {key.get('algorithm')!r}")


# ------------------------------------------------------------- the configs
def check_workload_configs(overlay, docs, configs):
    """The sonde config of each container: keys, mounted files, ports."""
    for obj in docs:
        spec = pod_spec(obj)
        if spec is None:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            volumes[claim["metadata"]["name"]] = {"name": claim["metadata"]["name"], "persistentVolumeClaim": {}}
        for container in spec.get("containers", []):
            where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']} container {container['name']}"
            args = container.get("args", [])
            if "--config" not in args:
                problem(where, "no --config argument")
                continue
            config_path = args[args.index("--config") + 1]
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}

            def mounted(path):
                """(mount, volume) whose mountPath holds path directly."""
                mount = mounts.get(os.path.dirname(path))
                if mount is None:
                    return None, None
                return mount, volumes.get(mount["name"])

            mount, volume = mounted(config_path)
            if volume is None or "configMap" not in volume:
                problem(where, f"{config_path} is not mounted from a ConfigMap")
                continue
            cm = by_name(docs, "ConfigMap", volume["configMap"]["name"])
            base = os.path.basename(config_path)
            if cm is None or base not in cm.get("data", {}):
                problem(where, f"ConfigMap {volume['configMap']['name']} has no key {base}")
                continue
            kind = base.split(".")[0]
            if kind not in EXAMPLE_KEYS:
                problem(where, f"{base}: expected probe.toml or collector.toml")
                continue
            text = cm["data"][base]
            label = f"{overlay}: ConfigMap {cm['metadata']['name']} {base}"
            try:
                config = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                problem(label, f"invalid TOML: {e}")
                continue
            unknown = sorted(flatten(config) - EXAMPLE_KEYS[kind])
            if unknown:
                problem(label, f"keys not in deploy/config/{kind}.example.toml: {', '.join(unknown)}")

            # Every file the config names comes from a mounted Secret or
            # ConfigMap key.
            for key, path, _ in file_paths(kind, config):
                mount, volume = mounted(path)
                if volume is None:
                    problem(label, f"{key} = {path}: no volume is mounted at {os.path.dirname(path)}")
                    continue
                source = volume.get("secret") or volume.get("configMap")
                if source is None:
                    problem(label, f"{key} = {path}: {mount['name']} is not a Secret or ConfigMap")
                    continue
                items = source.get("items")
                if items is None:
                    problem(label, f"{key}: volume {mount['name']} should list its items, so that the key names are checked")
                elif os.path.basename(path) not in {i["path"] for i in items}:
                    problem(label, f"{key} = {path}: volume {mount['name']} has no item {os.path.basename(path)}")
            for key in DIR_KEYS[kind]:
                path = lookup(config, key) or {"spool.dir": "/var/lib/sonde-collector/spool",
                                               "file.dir": "/var/lib/sonde-collector/ndjson"}[key]
                holders = [m for m in mounts.values()
                           if (path + "/").startswith(m["mountPath"].rstrip("/") + "/")]
                writable = [m for m in holders if not m.get("readOnly")
                            and set(volumes.get(m["name"], {})) & {"persistentVolumeClaim", "emptyDir", "hostPath"}]
                if not writable:
                    problem(label, f"{key} = {path} is not on a writable volume")

            # Ports: the metrics endpoint is what the kubelet probes.
            metrics = lookup(config, "metrics.listen")
            for probe_name in ("livenessProbe", "readinessProbe"):
                probe = container.get(probe_name, {}).get("httpGet")
                if probe is None:
                    problem(where, f"no {probe_name}")
                    continue
                if metrics is None:
                    problem(label, f"{probe_name} needs [metrics] listen")
                    continue
                if container_port(container, probe["port"]) != listen_port(metrics):
                    problem(where, f"{probe_name} port {probe['port']} is not metrics.listen {metrics}")
                if probe["path"] != {"livenessProbe": "/health", "readinessProbe": "/ready"}[probe_name]:
                    problem(where, f"{probe_name} path {probe['path']}")
            if kind == "collector":
                grpc = container_port(container, "grpc")
                if grpc != listen_port(config["server"]["listen"]):
                    problem(where, f"containerPort grpc {grpc} is not server.listen {config['server']['listen']}")
            if kind == "probe":
                endpoint = config["collector"]["endpoint"]
                host, port = endpoint.rsplit(":", 1)
                parts = host.split(".")
                if len(parts) >= 3 and parts[2] == "svc":
                    svc = by_name(docs, "Service", parts[0])
                    if svc is None or svc["metadata"].get("namespace") != parts[1]:
                        problem(label, f"collector.endpoint {endpoint}: no Service {parts[0]} in namespace {parts[1]}")
                    elif int(port) not in {p["port"] for p in svc["spec"]["ports"]}:
                        problem(label, f"collector.endpoint {endpoint}: Service {parts[0]} has no port {port}")
            configs.append((overlay, kind, label, text, config))


def check_secrets(overlay, docs):
    """Secrets mounted by the pods: made in this render (a Secret, or a
    cert-manager Certificate with the keys cert-manager writes), or one of the
    Secrets the operator creates (docs/deployment.md)."""
    operator_made = {"sonde-probe-tls", "sonde-collector-tls", "sonde-elasticsearch"}
    certificates = {c["spec"].get("secretName"): c for c in objects_of(docs, "Certificate")}
    for obj in docs:
        spec = pod_spec(obj)
        if spec is None:
            continue
        if spec.get("serviceAccountName") and by_name(docs, "ServiceAccount", spec["serviceAccountName"]) is None:
            problem(f"{overlay}: {obj['kind']}/{obj['metadata']['name']}", f"no ServiceAccount {spec['serviceAccountName']}")
        for volume in spec.get("volumes", []):
            secret = volume.get("secret")
            if not secret:
                continue
            name = secret["secretName"]
            keys = {i["key"] for i in secret.get("items", [])}
            where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']} volume {volume['name']}"
            if name in certificates:
                if keys - {"tls.crt", "tls.key", "ca.crt"}:
                    problem(where, f"Certificate {certificates[name]['metadata']['name']} makes no {sorted(keys - {'tls.crt', 'tls.key', 'ca.crt'})}")
            elif by_name(docs, "Secret", name) is None and name not in operator_made:
                problem(where, f"Secret {name} is neither in this render nor one the operator creates")


def check_certificates_match(overlay, docs, configs):
    """With cert-manager: the collector's certificate carries the name probes
    connect to, and each side has the right extended key usage."""
    certs = {c["spec"].get("secretName"): c["spec"] for c in objects_of(docs, "Certificate")}
    if not certs:
        return
    collector = certs.get("sonde-collector-tls")
    probe = certs.get("sonde-probe-tls")
    for (o, kind, label, _, config) in configs:
        if o != overlay or kind != "probe" or collector is None:
            continue
        name = config["collector"].get("server_name") or config["collector"]["endpoint"].rsplit(":", 1)[0]
        if name not in collector.get("dnsNames", []) + collector.get("ipAddresses", []):
            problem(label, f"the collector Certificate does not carry {name}, the name the probe checks")
    if collector is not None and "server auth" not in collector.get("usages", []):
        problem(overlay, "the collector Certificate needs usage 'server auth'")
    if probe is not None and "client auth" not in probe.get("usages", []):
        problem(overlay, "the probe Certificate needs usage 'client auth'")


# -------------------------------------------------------- --check-config
def run_check_config(configs):
    """The binaries' own --check-config on the exact ConfigMap text, with the
    files it names present at their absolute paths: a private mount namespace
    puts overlays on /etc and /var holding a real PKI made by `sonde-collector
    certs init` (what the Secrets would hold) and a password file."""
    binaries = {k: os.path.join(bin_dir, f"sonde-{k}") for k in ("probe", "collector")}
    missing = [b for b in binaries.values() if not os.access(b, os.X_OK)]
    if missing:
        print(f"    --check-config: skipped, no binaries ({', '.join(missing)}; "
              "cargo build, or set SONDE_BIN_DIR)", file=sys.stderr)
        return
    if can_namespace != "yes":
        print("    --check-config: skipped, needs root and unshare for a private mount namespace",
              file=sys.stderr)
        return
    pki = os.path.join(work, "pki")
    result = subprocess.run(
        [binaries["collector"], "certs", "init", "--dir", pki,
         "--collector-name", "collector.check-deploy.invalid", "--probe", "probe.check-deploy.invalid"],
        capture_output=True, text=True)
    if result.returncode != 0:
        problem("sonde-collector certs init", result.stderr.strip() or result.stdout.strip())
        return
    secret = os.path.join(work, "secret")
    with open(secret, "w", encoding="utf-8") as f:
        f.write("check-deploy-not-a-password\n")
    sources = {
        "ca": os.path.join(pki, "ca.pem"),
        "probe_cert": os.path.join(pki, "probe-probe.check-deploy.invalid.pem"),
        "probe_key": os.path.join(pki, "probe-probe.check-deploy.invalid.key"),
        "collector_cert": os.path.join(pki, "collector.pem"),
        "collector_key": os.path.join(pki, "collector.key"),
        "secret": secret,
    }
    for n, (overlay, kind, label, text, config) in enumerate(configs):
        config_file = os.path.join(work, f"config-{n}-{kind}.toml")
        with open(config_file, "w", encoding="utf-8") as f:
            f.write(text)
        placed = []
        for key, path, role in file_paths(kind, config):
            if role is None or not os.path.isabs(path):
                problem(label, f"{key} = {path}: no stand-in file for --check-config; extend scripts/check-deploy.sh")
                break
            placed.append((sources[role], path))
        else:
            dirs = [lookup(config, k) for k in DIR_KEYS[kind] if lookup(config, k)]
            tops = sorted({"/" + p.split("/")[1] for _, p in placed} | {"/" + d.split("/")[1] for d in dirs})
            script = ["set -e", f'mount -t tmpfs sonde-check-deploy "{work}/ns"']
            for top in tops:
                if top in ("/", "/proc", "/sys", "/dev"):
                    problem(label, f"cannot stand in for files under {top}")
                    break
                script += [f'mkdir -p "{work}/ns{top}/upper" "{work}/ns{top}/work"',
                           f'mount -t overlay overlay -o lowerdir={top},upperdir="{work}/ns{top}/upper",'
                           f'workdir="{work}/ns{top}/work" {top}']
            else:
                script += [f'install -D -m 0600 "{src}" "{dst}"' for src, dst in placed]
                script += [f'mkdir -p "{d}"' for d in dirs]
                script += [f'exec "{binaries[kind]}" --check-config "{config_file}"']
                os.makedirs(os.path.join(work, "ns"), exist_ok=True)
                result = subprocess.run(
                    ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                    capture_output=True, text=True)
                if result.returncode != 0:
                    problem(label, "--check-config failed:\n" + (result.stdout + result.stderr).strip())
                else:
                    print(f"    --check-config ok: {label}", file=sys.stderr)


# ------------------------------------------------------------------ main
configs = []
summary = []
for file_name in sorted(os.listdir(render_dir)):
    if not file_name.endswith(".yaml"):
        continue
    overlay = file_name[: -len(".yaml")]
    with open(os.path.join(render_dir, file_name), encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    skipped = 0
    for obj in docs:
        where = f"{overlay}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if obj.get("kind") != "Namespace" and obj.get("metadata", {}).get("namespace") != "sonde":
            problem(where, "not in the namespace sonde")
        if (obj.get("apiVersion"), obj.get("kind")) in SKIPPED_KINDS:
            skipped += 1
            check_cert_manager(where, obj, docs)
            continue
        for version in k8s_versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problem(where, f"Kubernetes {version}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                problem(where, f"{e.message} (add it to SKIPPED_KINDS with a check of its own)")
    check_secrets(overlay, docs)
    check_workload_configs(overlay, docs, configs)
    check_certificates_match(overlay, docs, configs)
    summary.append(f"{overlay}: {len(docs)} objects"
                   + (f" ({skipped} cert-manager objects checked structurally)" if skipped else ""))

for line in summary:
    print(f"    {line}", file=sys.stderr)
if not problems:
    run_check_config(configs)
if problems:
    for p in problems:
        print(f"check-deploy: {p}", file=sys.stderr)
    sys.exit(1)
PYTHON

say "deploy checks passed"
