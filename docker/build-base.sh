#!/usr/bin/env bash
# Build the lab's base image for one Debian suite without a registry:
# debootstrap from Debian's mirror on this machine, then `docker import`.
# Cached by tag: a second call returns at once.  Usage: build-base.sh SUITE TAG
set -euo pipefail
suite=$1 tag=$2
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base $tag: cached"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    else
        echo "debootstrap missing: install it (apt-get install debootstrap) and run again" >&2
        exit 1
    fi
fi
root=$(mktemp -d /var/tmp/pg-hotstandby-base.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
# Everything the Dockerfile needs is installed here, so the image build needs
# no network inside the container.
echo "base $tag: building Debian $suite with debootstrap from Debian's mirror (about 2 minutes, once)"
debootstrap --variant=minbase \
    --include=postgresql,openssh-server,openssh-client,rsync,sudo,iproute2,procps,tini,less,systemd,systemd-sysv,dbus \
    "$suite" "$root" "$mirror" >"$root.log" 2>&1 &
pid=$!
# Show that it moves: debootstrap's own last step, every 10 s.
while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    kill -0 "$pid" 2>/dev/null || break
    echo "base $tag: $(grep '^I: ' "$root.log" | tail -1 | cut -c4-) ($(grep -c '^I: Retrieving' "$root.log") packages fetched)"
done
wait "$pid" || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base $tag: built from $suite"
