"""Configuration files on a host: written only when their text changes (with
a backup), managed blocks in shared files, and the settings the tool owns (a
conf.d drop-in where the layout includes one, otherwise a marked block at the
end of postgresql.conf).  Every step is idempotent through here; on a dry host
a change is reported as a diff and nothing is written.

A caller that has just read a file passes its text along (`current`), so that
it is not read again before it is written."""
from ..knowledge import blocks, render

UNREAD = object()   # current: read the file here


def settings_file(host):
    """The file the tool's settings live in: the drop-in, else postgresql.conf."""
    return host.layout.dropin or host.layout.config_file


def owned_text(host, current):
    """The settings the tool wrote last time (text), or '', from the text of
    its settings file (current)."""
    if host.layout.dropin:
        return current or ""
    return "\n".join(blocks.block_lines(current))


def write(host, settings, purpose, backup_dir, current=UNREAD):
    """Write the tool's settings; a description of the change, or None."""
    lay = host.layout
    text = render.render_settings(settings, purpose)
    if lay.dropin:
        return ensure_text(host, lay.dropin, text, "postgres", "644", backup_dir, current)
    return ensure_block(host, lay.config_file, text.splitlines(), "postgres", "600",
                        backup_dir, current=current)


def ensure_text(host, path, text, owner, mode, backup_dir, current=UNREAD):
    """Write `text` to `path` unless it is there already.

    Returns None when unchanged, else a description naming the backup.
    """
    if current is UNREAD:
        current = host.read(path)
    if current == text:
        return None
    if host.dry:
        return f"would change {path}:\n{blocks.diff(current, text, path)}"
    backup = host.install(path, text, owner=owner, mode=mode, backup_dir=backup_dir)
    return f"wrote {path}" + (f" (previous copy: {backup})" if backup else " (new file)")


def ensure_block(host, path, lines, owner, mode, backup_dir, at="end", current=UNREAD):
    """Make the managed block in `path` hold `lines`; None when unchanged."""
    if current is UNREAD:
        current = host.read(path)
    if current is None:
        raise FileNotFoundError(f"{host.name}: {path} does not exist")
    return ensure_text(host, path, blocks.replace_block(current, lines, at), owner, mode,
                       backup_dir, current)
