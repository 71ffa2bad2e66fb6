#!/usr/bin/env bash
# Build local stand-ins for the public base images the deployment uses, for machines that can
# reach Debian's package mirror and PyPI but no container registry.
#
#   python stand-in  (for python:3.11-slim):   Debian bookworm minbase + python3 + venv (ensurepip),
#                                               made with mmdebstrap (fast) or else debootstrap
#   nginx stand-in   (for nginx:1.27-alpine):  the python stand-in + Debian's nginx-light
#
# The machine's proxy CA (if any, /usr/local/share/ca-certificates/*.crt) is copied into the
# stand-in only, so pip works inside `docker build`; the project's Dockerfile stays portable.
# Images that already exist are kept (the docker images are the cache), so a second run is a
# no-op. Usage: scripts/build-standin-images.sh   (needs root, debootstrap and a docker engine)
#
# `--tags` only prints the tags. Prints the two tags as shell assignments on its last lines:
#   PYTHON_STANDIN=...   NGINX_STANDIN=...
set -euo pipefail

PYTHON_STANDIN=${PYTHON_STANDIN:-rnn-serving-standin/python:3.11-bookworm-v2}
NGINX_STANDIN=${NGINX_STANDIN:-rnn-serving-standin/nginx:bookworm-v3}
SUITE=${STANDIN_SUITE:-bookworm}
if [ "${1:-}" = --tags ]; then
    echo "PYTHON_STANDIN=$PYTHON_STANDIN"
    echo "NGINX_STANDIN=$NGINX_STANDIN"
    exit 0
fi

log() { printf '[standin %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt already uses on this machine (deb822 .sources or one-line .list).
debian_mirror() {
    local uri
    uri=$(
        {
            cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
            cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; break}}'
        } | grep -E '/debian/?$' | grep -v -- '-security' | head -n1
    ) || true
    echo "${uri:-http://deb.debian.org/debian}"
}

IMPORT_CHANGES=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV LANG=C.UTF-8'
    --change 'CMD ["python3"]'
)
PACKAGES=python3,python3-venv,ca-certificates

# A scratch directory in RAM when there is one: unpacking a root filesystem is many small
# writes, several times faster on tmpfs than on a busy disk.
scratch_dir() {
    if [ -d /dev/shm ] && [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -n1)" -gt 2000000 ] 2>/dev/null; then
        echo /dev/shm
    else
        echo /tmp
    fi
}

# Runs inside the new root filesystem ($1) before it is packed: the machine's CA certificates
# (the proxy's, if any; into the stand-in only), `python` like python:3.11-slim, no apt lists.
customize_rootfs() {
    local root=$1
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1
    fi
    ln -sf python3 "$root/usr/bin/python"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/*
}

build_python_standin() {
    if have_image "$PYTHON_STANDIN"; then
        log "$PYTHON_STANDIN exists, kept"
        return
    fi
    local mirror t0 tmp
    mirror=$(debian_mirror)
    tmp=$(scratch_dir)
    t0=$(date +%s)
    if command -v mmdebstrap >/dev/null; then
        log "mmdebstrap $SUITE from $mirror (scratch in $tmp)"
        # merged /usr the way debootstrap does it, so apt does not pull usrmerge and perl.
        local hook merged_usr=()
        [ ! -d /usr/share/mmdebstrap/hooks/merged-usr ] \
            || merged_usr=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
        hook=$(mktemp "$tmp/standin-hook.XXXXXX")
        HOOK=$hook
        { declare -f customize_rootfs; echo 'customize_rootfs "$1"'; } >"$hook"
        TMPDIR=$tmp mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
            --dpkgopt=force-unsafe-io "${merged_usr[@]}" \
            --customize-hook="bash '$hook' \"\$1\"" \
            "$SUITE" - "$mirror" 2>"$tmp/standin-mmdebstrap.log" \
            | docker import "${IMPORT_CHANGES[@]}" \
                --message "local stand-in for python:3.11-slim (mmdebstrap $SUITE)" \
                - "$PYTHON_STANDIN" >/dev/null \
            || { tail -n 30 "$tmp/standin-mmdebstrap.log" >&2; die "mmdebstrap failed (log above)"; }
        rm -f "$tmp/standin-mmdebstrap.log" "$hook"
        HOOK=
    else
        command -v debootstrap >/dev/null \
            || die "neither mmdebstrap nor debootstrap is installed (apt-get install -y mmdebstrap)"
        local root
        root=$(mktemp -d "$tmp/standin-rootfs.XXXXXX")
        ROOTFS=$root
        log "debootstrap $SUITE from $mirror into $root"
        debootstrap --variant=minbase --include="$PACKAGES" \
            "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 \
            || { tail -n 30 "$root.log" >&2; die "debootstrap failed (log above)"; }
        customize_rootfs "$root"
        tar -C "$root" --numeric-owner -c . | docker import "${IMPORT_CHANGES[@]}" \
            --message "local stand-in for python:3.11-slim (debootstrap $SUITE)" \
            - "$PYTHON_STANDIN" >/dev/null
        rm -rf "$root" "$root.log"
        ROOTFS=
    fi
    docker run --rm "$PYTHON_STANDIN" python -c "import ensurepip, ssl, venv" \
        || die "$PYTHON_STANDIN: python3 with venv and ssl does not work"
    log "built $PYTHON_STANDIN in $(($(date +%s) - t0)) s"
}

build_nginx_standin() {
    if have_image "$NGINX_STANDIN"; then
        log "$NGINX_STANDIN exists, kept"
        return
    fi
    local t0 mirror
    t0=$(date +%s)
    mirror=$(debian_mirror)
    log "building $NGINX_STANDIN (nginx-light from $mirror)"
    # Behaves like the official image where the deployment relies on it: conf.d/*.conf is
    # included in the http block, logs go to stdout/stderr, `nginx -g 'daemon off;'` runs it.
    docker build -q -t "$NGINX_STANDIN" --build-arg "BASE=$PYTHON_STANDIN" \
        --build-arg "MIRROR=$mirror" --build-arg "SUITE=$SUITE" - >/dev/null <<'EOF'
ARG BASE
FROM ${BASE}
ARG MIRROR
ARG SUITE
RUN echo "deb ${MIRROR} ${SUITE} main" > /etc/apt/sources.list \
    && apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light wget \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
    log "built $NGINX_STANDIN in $(($(date +%s) - t0)) s"
}

ROOTFS=
HOOK=
trap '[ -z "$ROOTFS" ] || rm -rf "$ROOTFS" "$ROOTFS.log"; [ -z "$HOOK" ] || rm -f "$HOOK"' EXIT

docker info >/dev/null 2>&1 || die "no docker engine answers"
build_python_standin
build_nginx_standin
echo "PYTHON_STANDIN=$PYTHON_STANDIN"
echo "NGINX_STANDIN=$NGINX_STANDIN"
