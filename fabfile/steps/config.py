"""Configuration files on a host: written only when their text changes (with
a backup), managed blocks in shared files, and the settings the tool owns (a
conf.d drop-in where the layout includes one, otherwise a marked block at the
end of postgresql.conf).  Every step is idempotent through here; on a dry host
a change is reported as a diff and nothing is written."""
from ..knowledge import blocks, render


def owned_text(host):
    """The settings the tool wrote last time (text), or ''."""
    lay = host.layout
    if lay.dropin:
        return host.read(lay.dropin) or ""
    return "\n".join(blocks.block_lines(host.read(lay.config_file)))


def write(host, settings, purpose, backup_dir):
    """Write the tool's settings; a description of the change, or None."""
    lay = host.layout
    text = render.render_settings(settings, purpose)
    if lay.dropin:
        return ensure_text(host, lay.dropin, text, "postgres", "644", backup_dir)
    return ensure_block(host, lay.config_file, text.splitlines(), "postgres", "600",
                        backup_dir)


def ensure_text(host, path, text, owner, mode, backup_dir):
    """Write `text` to `path` unless it is there already.

    Returns None when unchanged, else a description naming the backup.
    """
    current = host.read(path)
    if current == text:
        return None
    if host.dry:
        return f"would change {path}:\n{blocks.diff(current, text, path)}"
    backup = host.install(path, text, owner=owner, mode=mode, backup_dir=backup_dir)
    return f"wrote {path}" + (f" (previous copy: {backup})" if backup else " (new file)")


def ensure_block(host, path, lines, owner, mode, backup_dir, at="end"):
    """Make the managed block in `path` hold `lines`; None when unchanged."""
    current = host.read(path)
    if current is None:
        raise FileNotFoundError(f"{host.name}: {path} does not exist")
    return ensure_text(host, path, blocks.replace_block(current, lines, at), owner, mode,
                       backup_dir)
