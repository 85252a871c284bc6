#!/usr/bin/env bash
# with-hosts.sh HOSTS_FILE COMMAND [ARG...]
#
# Runs COMMAND with HOSTS_FILE in place of /etc/hosts, in a private mount namespace
# (unshare -m, bind mount): the machine's own /etc/hosts is never touched, and the
# change ends with the command. Tests whose result depends on what "localhost"
# stands for run under both layouts this way: Debian's default (127.0.0.1 and ::1)
# and IPv4 only. Needs root (CI runs as root); elsewhere it exits 77, which CTest
# reports as skipped, and says why.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
hosts=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
[ -r "$hosts" ] || { echo "with-hosts.sh: cannot read $hosts" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
  echo "with-hosts.sh: skipped: a private mount namespace needs root and unshare(1)" >&2
  exit 77
fi
# (In a chroot whose root is not a mount point, unshare -m cannot make the new
# namespace private: bind-mount the chroot's directory onto itself first.)
if ! why=$(unshare -m true 2>&1); then
  echo "with-hosts.sh: skipped: no private mount namespace here: $why" >&2
  exit 77
fi
exec unshare -m -- bash -c 'mount --bind "$1" /etc/hosts || exit 77
  shift
  echo "with-hosts.sh: localhost is $(getent ahosts localhost | awk '\''{print $1}'\'' | sort -u | tr "\n" " ")" >&2
  exec "$@"' with-hosts "$hosts" "$@"
