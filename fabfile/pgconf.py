"""The settings the tool owns on a host: a conf.d drop-in where the layout
includes one, otherwise a marked block at the end of postgresql.conf."""
from . import files, render


def owned_text(host):
    """The settings the tool wrote last time (text), or ''."""
    lay = host.layout
    if lay.dropin:
        return host.read(lay.dropin) or ""
    return "\n".join(files.block_lines(host.read(lay.config_file)))


def write(host, settings, purpose, backup_dir):
    """Write the tool's settings; a description of the change, or None."""
    lay = host.layout
    text = render.render_settings(settings, purpose)
    if lay.dropin:
        return files.ensure_text(host, lay.dropin, text, "postgres", "644", backup_dir)
    return files.ensure_block(host, lay.config_file, text.splitlines(), "postgres", "600",
                              backup_dir)
