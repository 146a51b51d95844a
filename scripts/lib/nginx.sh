# Sourced by the scripts that run nginx (cluster.sh, test-cluster.sh): Debian's nginx
# installed once, and Debian's own instance (started on :80 at install) stopped and
# disabled: ours run with configs of their own (deploy/nginx.conf). The sourcing
# script defines log() and die().

ensure_nginx() {
    command -v nginx >/dev/null && return 0
    # shellcheck source=apt.sh
    source "$ROOT/scripts/lib/apt.sh"
    apt_install nginx
    $SUDO service nginx stop >/dev/null 2>&1 || true
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
    else
        $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
    fi
}
