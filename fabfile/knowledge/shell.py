"""Shell commands built so that no value can become code: the one place where
values are quoted for a remote shell.

`sh(template, **values)` fills a template whose text is the tool's own and
quotes every value (a path, a name, a host's answer, a config setting) with
shlex.quote; a `Command` value goes in as it is (it was built the same way), a
list or tuple becomes one quoted word per item.  `Host` runs only `Command`s,
so a command assembled by hand with an f-string is refused at once, in the
unit tests, before it can reach a host.
"""
import re
import shlex
import string


class Command(str):
    """Shell text whose every value was quoted by `sh` (or that has none)."""


class _Quoting(string.Formatter):
    def format_field(self, value, format_spec):
        if format_spec:
            raise ValueError("sh() templates take plain {name} fields")
        if isinstance(value, Command):
            return value
        if isinstance(value, (list, tuple)):
            return " ".join(self.format_field(v, "") for v in value)
        if isinstance(value, bool) or value is None:
            raise TypeError(f"sh(): {value!r} is not a shell value")
        return shlex.quote(str(value))

    def convert_field(self, value, conversion):
        if conversion:
            raise ValueError("sh() templates take plain {name} fields")
        return value

    def get_field(self, field_name, args, kwargs):
        if not field_name.isidentifier():   # no {x.attr} or {x[0]}: values are flat
            raise ValueError(f"sh(): field {{{field_name}}} must be a plain name")
        return super().get_field(field_name, args, kwargs)


_QUOTING = _Quoting()


def sh(template, **values):
    """A Command: the template with each {name} replaced by its quoted value.
    Literal braces in the template are doubled ({{ }}), as in str.format."""
    return Command(_QUOTING.vformat(template, (), values))


def join(parts, sep="; "):
    """Commands joined into one (a script of steps, `&&` chains)."""
    for part in parts:
        if not isinstance(part, Command):
            raise TypeError(f"shell.join(): {part!r} was not built by sh()")
    return Command(sep.join(parts))


def as_user(user, command):
    """command run as `user` from a root shell.  HOME is the user's own, as
    sudo -H makes it (ssh and psql read files there)."""
    return sh("HOME=$(getent passwd {user} | cut -d: -f6) runuser -u {user} -- "
              "sh -c {command}", user=user, command=str(command))


# A directory pattern from the config (bin_directory_candidates): expanded by
# the shell on purpose, so only characters that cannot be code are allowed.
GLOB = re.compile(r"/[A-Za-z0-9_./*?-]*")


def glob(pattern):
    """A path pattern left unquoted for the shell to expand; refused unless it
    is an absolute path of plain characters and wildcards."""
    if not GLOB.fullmatch(pattern):
        raise ValueError(f"{pattern!r} is not a plain absolute path pattern")
    return Command(pattern)
