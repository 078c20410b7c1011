"""docs/settings.md, made from the settings' table (settings.TABLE):

    python3 -m fabfile.docs > docs/settings.md

tests/unit/test_settings_table.py fails when the file is not what this makes.
"""
import re
import textwrap

from .settings import TABLE

INTRO = (
    "Every setting is in the `hotstandby` namespace of fab's configuration: in "
    "`fabric.yaml` (read by `fab` from the clone; the installed command reads "
    "`~/.fabric.yaml` and `/etc/fabric.yaml` instead), in a file given with `-f FILE`, or "
    "in a `FABRIC_HOTSTANDBY_<NAME>` environment variable (a dotted name with `_`: "
    "`FABRIC_HOTSTANDBY_TLS_MODE`; lists and mappings only in a file).  A task flag such "
    "as `--method` wins over the setting for its run.  All of it is checked before any "
    "host is touched: a name the tool does not know, a value of another shape or a bad "
    "value is one line naming the setting.")
EXAMPLE = """\
```yaml
hotstandby:
  method: rsync
  tls:
    mode: require
```"""


def default_text(value):
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple)):
        return ", ".join(f"`{v}`" for v in value) if value else "`[]`"
    if isinstance(value, dict):
        return "`{}`"
    return f"`{value}`"


def cell(text):
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def row(name, s):
    return f"| `{name}` | {cell(default_text(s.default))} | {cell(s.help + '. ' + s.more)} |"


def markdown():
    lines = ["<!-- Generated from fabfile/settings.py (TABLE): do not edit.",
             "     Regenerate: python3 -m fabfile.docs > docs/settings.md -->",
             "# Settings", "", textwrap.fill(INTRO, 88), "", EXAMPLE, "",
             "| setting | default | what it is |", "|---|---|---|"]
    for s in TABLE:
        if not s.internal:
            lines.append(row(s.name, s))
            lines.extend(row(f"{s.name}.<name>.{e.name}", e) for e in s.entries)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
