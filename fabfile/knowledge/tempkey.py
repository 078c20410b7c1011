"""The temporary key that lets the primary's rsync log in to a standby: its
authorized_keys line, the forced command that confines it, and the shell
that adds and removes the line.  Pure: unit-tested, the wrapper by running it.

The key may only run rsync's receiving side into this copy's directories,
from the primary's address.  What a copy sends (`rsync.command`,
`rsync.control_file_command` and `rsync.wal_command` as the client; seen
with rsync 3.2.7 and 3.5.0):

    rsync --server -logDtpre.LsfxCIvu --timeout=60 --delete --inplace --stats
          . /data/dir/
    rsync --server -logDtprce.iLsfxCIvu --timeout=60 . /data/dir/global/pg_control
    rsync --server -logDtpre.iLsfxCIvu --timeout=60 --inplace . /data/dir/pg_wal/

and with compression and a rate cap (transfer.rsync_options; rsync 3.2.3 to
3.5.0 send --compress-choice in place of the z flag):

    rsync --server -logDtpre.LsfxCIvu --compress-level=1 --timeout=60
          --bwlimit=51200 --compress-choice=zstd --delete --inplace --stats
          . /data/dir/
"""
import ipaddress
import re
import shlex

from . import shell


class TempKeyError(Exception):
    """A value the line or the wrapper cannot carry safely."""


# What a path may hold to reach the wrapper and authorized_keys unquoted:
# rsync escapes anything else with backslashes, which the wrapper refuses.
SAFE_PATH = re.compile(r"/[A-Za-z0-9._+,=/-]*\Z")
PUBLIC_KEY = re.compile(r"ssh-ed25519 [A-Za-z0-9+/]+={0,2} pg-hotstandby-[0-9a-f]{12}\Z")

WRAPPER = r"""#!/bin/sh
# pg-hotstandby: the forced command of a temporary key.  It runs rsync's
# receiving side into this copy's directories only; anything else: exit 1.
PATH=/usr/local/bin:/usr/bin:/bin
export PATH
refuse() { echo "pg-hotstandby: refused: $1 (this key only copies into $TARGETS)" >&2; exit 1; }
TARGETS=@TARGETS@
case $SSH_ORIGINAL_COMMAND in
    *[!A-Za-z0-9._+,=/\ -]*|'') refuse "not a command of this copy" ;;
esac
set -f
set -- $SSH_ORIGINAL_COMMAND
[ "$1 $2" = "rsync --server" ] || refuse "not rsync's receiving side"
shift 2
n=$#
i=0
for arg do
    i=$((i + 1))
    if [ $i -eq $((n - 1)) ]; then
        [ "$arg" = . ] || refuse "unexpected argument $arg"
    elif [ $i -eq $n ]; then
        ok=
        for t in $TARGETS; do
            [ "$arg" = "$t" ] || [ "$arg" = "$t/" ] && ok=1
        done
        [ -n "$ok" ] || refuse "not a target of this copy: $arg"
    else
        case $arg in
            -[logDtprc]*e[.0-9]*) flags=${arg%%e*}; caps=${arg#*e} ;;
            --timeout=[0-9]*|--delete|--inplace|--stats|--bwlimit=[0-9]*) continue ;;
            --compress-choice=zstd|--compress-choice=lz4|--compress-level=[0-9]*) continue ;;
            *) refuse "option not allowed: $arg" ;;
        esac
        case $flags in -*[!logDtprc]*) refuse "option not allowed: $arg" ;; esac
        case $caps in *[!.0-9A-Za-z]*) refuse "option not allowed: $arg" ;; esac
    fi
done
[ $n -ge 3 ] || refuse "no target"
exec rsync --server "$@"
"""


def safe_path(path):
    """A path the wrapper compares literally, without its trailing slash."""
    trimmed = path.rstrip("/") or "/"
    if not SAFE_PATH.match(trimmed) or "/../" in f"{trimmed}/" or trimmed == "/":
        raise TempKeyError(f"{path!r} holds characters a confined copy cannot name "
                        "(letters, digits and . _ + , = - / only)")
    return trimmed


def wrapper(targets):
    """The forced command's script: rsync --server into `targets` only (each
    a directory or a file the copy writes, compared exactly)."""
    paths = " ".join(safe_path(t) for t in targets)
    return WRAPPER.replace("@TARGETS@", shlex.quote(paths))


def authorized_line(public_key, source, wrapper_path):
    """The authorized_keys line: no forwarding, no terminal (restrict), only
    from the primary's address, only the wrapper (read by sh: a /tmp mounted
    noexec does not stop it)."""
    if not PUBLIC_KEY.match(public_key.strip()):
        raise TempKeyError(f"not a key made for this copy: {public_key.strip()[:60]!r}")
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        raise TempKeyError(f"not an IP address: {source!r}") from None
    return (f'restrict,from="{address}",command="/bin/sh {safe_path(wrapper_path)}" '
            f"{public_key.strip()}")


def append_script(line):
    """Shell (as the standby's postgres user) that adds `line` to its
    authorized_keys: created 0600 when missing; a newline first when the last
    line has none, so the key is not joined to another's line."""
    return shell.sh('umask 077 && mkdir -p ~/.ssh && f=~/.ssh/authorized_keys && '
                    'if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi && '
                    'printf "%s\\n" {line} >> "$f"', line=line)


def remove_script(line):
    """Shell (as the same user) that removes every line equal to `line`; the
    other lines stay byte for byte, the file keeps its mode.  A temporary file
    in the same directory, then a rename: never a half-written file."""
    return shell.sh('f=~/.ssh/authorized_keys; [ -f "$f" ] || exit 0; '
                    'grep -qxF -e {line} "$f" || exit 0; '
                    't=$(mktemp ~/.ssh/.authorized_keys.XXXXXX) || exit 1; '
                    'grep -vxF -e {line} "$f" > "$t"; [ $? -le 1 ] && '
                    'chmod --reference="$f" "$t" && mv -f "$t" "$f" || {{ rm -f "$t"; exit 1; }}',
                    line=line)
