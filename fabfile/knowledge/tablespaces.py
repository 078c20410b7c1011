"""Tablespaces outside the data directory: what a copy must carry besides it.

`pg_tblspc/OID` in the data directory is a symlink to the location given in
CREATE TABLESPACE; PostgreSQL keeps the tablespace's files in one directory
inside it, `PG_<major>_<catalog version>` (other majors may share the
location).  A copy therefore moves that one directory, to the same location on
the standby unless `hotstandby.tablespace_mapping` names another, and points
the standby's symlink at it.  The swap happens inside the location, so a
location that is a mount point of its own works too.  Pure.
"""
from dataclasses import dataclass, replace

from . import values, versions

# Where pg_basebackup writes a tablespace before it is swapped in, inside its
# location (the same file system: a rename, even on a mount point).
INCOMING = ".pg-hotstandby-incoming"
# The primary's tablespaces outside its data directory (9.2+).
LIST_SQL = ("select oid, spcname, pg_tablespace_location(oid) from pg_tablespace "
            "where pg_tablespace_location(oid) <> '' order by oid")


class TablespaceError(ValueError):
    pass


@dataclass(frozen=True)
class Tablespace:
    oid: str
    name: str
    location: str        # on the copy's source: the primary (see from_standby)
    target: str          # on the standby
    version_dir: str     # PG_<major>_<catalog version>

    @property
    def source(self):
        return f"{self.location}/{self.version_dir}"

    @property
    def dest(self):
        return f"{self.target}/{self.version_dir}"

    @property
    def incoming(self):
        return f"{self.target}/{INCOMING}"

    @property
    def link(self):
        """The symlink in the data directory, relative to it."""
        return f"pg_tblspc/{self.oid}"

    def describe(self):
        moved = "" if self.target == self.location else f" -> {self.target}"
        return f"tablespace {self.name} ({self.location}{moved})"


def version_dir(major, catalog_version):
    """The directory PostgreSQL uses inside a tablespace location."""
    if not str(catalog_version).isdigit():
        raise TablespaceError(f"cannot read the catalog version {catalog_version!r}")
    return f"PG_{versions.label(major)}_{catalog_version}"


def check_path(path, what):
    """An absolute path with nothing a shell, rsync or pg_basebackup's
    OLD=NEW mapping would read otherwise; the same path, else TablespaceError."""
    try:
        return values.path(path, what)
    except values.BadValue as exc:
        raise TablespaceError(str(exc)) from None


def parse(rows, major, catalog_version, mapping=None):
    """[Tablespace] from LIST_SQL's rows; mapping: {primary location: standby path}."""
    mapping = {check_path(k, "hotstandby.tablespace_mapping key"):
               check_path(v, f"hotstandby.tablespace_mapping.{k}")
               for k, v in (mapping or {}).items()}
    spaces = []
    for oid, name, location in rows:
        if not oid.isdigit():
            raise TablespaceError(f"tablespace {name!r}: unexpected oid {oid!r}")
        location = check_path(location, f"tablespace {name} location")
        spaces.append(Tablespace(oid, name, location, mapping.get(location, location),
                                 version_dir(major, catalog_version)))
    return spaces


def from_standby(spaces):
    """The tablespaces as a copy from a standby's finished copy reads them
    (fan-out): each one's files are where standbys keep it, its target."""
    return [replace(t, location=t.target) for t in spaces]


def mapping_options(spaces):
    """pg_basebackup's --tablespace-mapping, one per tablespace, to its
    incoming directory (check_path keeps '=' out of both sides)."""
    return [f"--tablespace-mapping={t.location}={t.incoming}" for t in spaces]
