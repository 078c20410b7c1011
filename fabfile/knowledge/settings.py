"""The `hotstandby` config, checked before any host is touched.  Pure."""
import ipaddress
import re


class SettingsError(ValueError):
    pass


def as_number(text):
    """A command-line value as a number, or as given (validate names the fault)."""
    try:
        return float(text)
    except ValueError:
        return text


# How sync copies (fabfile/clone.py).
METHODS = ("rsync-cold", "rsync", "basebackup")


def validate(settings):
    """Raise SettingsError naming the setting and the fix; return None when fine."""
    def bad(name, fix):
        raise SettingsError(f"hotstandby.{name} = {settings.get(name)!r}: {fix}")

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", str(settings.get("replication_role") or "")):
        bad("replication_role", "use a plain role name (lower case letters, digits, _)")
    if settings.get("auth_method") not in (None, "scram-sha-256", "md5"):
        bad("auth_method", "use scram-sha-256 or md5 (trust and password are refused)")
    keep = settings.get("max_slot_wal_keep_size")
    if keep is not None and not re.fullmatch(r"-1|\d+(kB|MB|GB|TB)?", str(keep)):
        bad("max_slot_wal_keep_size", "use a size such as 10GB (MB when no unit), or -1 for "
                                      "no limit")
    if settings.get("method") not in METHODS:
        bad("method", "use " + ", ".join(METHODS))
    if settings.get("layout") not in ("auto", "debian", "generic"):
        bad("layout", "use auto, debian or generic")
    for name in ("port", "ssh_port"):
        value = settings.get(name)
        if not (isinstance(value, int) and 0 < value < 65536):
            bad(name, "use a TCP port number")
    timeouts = settings.get("timeouts") or {}
    for name in ("start", "stream"):
        value = timeouts.get(name)
        if not (isinstance(value, (int, float)) and value > 0):
            raise SettingsError(f"hotstandby.timeouts.{name} = {value!r}: use a number of "
                                "seconds above 0")
    for name, value in (settings.get("status") or {}).items():
        if not (isinstance(value, (int, float)) and value >= 0):
            raise SettingsError(f"hotstandby.status.{name} = {value!r}: use a number of "
                                f"{name.rsplit('_', 1)[-1]}, 0 or more")
    addresses = settings.get("addresses") or {}
    if not isinstance(addresses, dict):
        bad("addresses", "map host names to addresses")
    for host, address in addresses.items():
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise SettingsError(f"hotstandby.addresses.{host} = {address!r}: use an IPv4 or "
                                "IPv6 address") from None
    standbys = settings.get("standbys")
    if standbys is not None and not isinstance(standbys, (list, tuple)):
        bad("standbys", "use a list of host names")
    password = settings.get("replication_password")
    if password is not None and (not isinstance(password, str) or not password
                                 or "\n" in password):
        raise SettingsError("hotstandby.replication_password: use a non-empty one-line "
                            "string, or leave it empty to have one generated")
