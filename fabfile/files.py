"""File helpers that patchwork would have given (it cannot run on invoke 2):
managed blocks in shared files, and writing a file only when its text changes.

`replace_block` and `diff` are pure; `ensure_text` and `ensure_block` act on
a Host and report whether anything changed, so every step can be idempotent
(on a dry host they report the change as a diff and write nothing).
"""
import difflib

BEGIN = "# BEGIN pg-hotstandby (managed block: edits here are overwritten)"
END = "# END pg-hotstandby"


def replace_block(text, lines, at="end"):
    """text with the managed block holding `lines` (added at start or end if absent).

    An empty `lines` removes the block.
    """
    text = text or ""
    body = [BEGIN, *lines, END] if lines else []
    existing = text.splitlines()
    if BEGIN in existing and END in existing[existing.index(BEGIN):]:
        start = existing.index(BEGIN)
        stop = existing.index(END, start) + 1
        new = existing[:start] + body + existing[stop:]
    elif not body:
        new = existing
    elif at == "start":
        new = body + existing
    else:
        new = existing + body
    return "\n".join(new) + "\n" if new else ""


def block_lines(text):
    """The lines inside the managed block, or []."""
    lines = (text or "").splitlines()
    if BEGIN not in lines:
        return []
    start = lines.index(BEGIN) + 1
    return lines[start:lines.index(END, start)] if END in lines[start:] else []


def ensure_text(host, path, text, owner, mode, backup_dir):
    """Write `text` to `path` unless it is there already.

    Returns None when unchanged, else a description naming the backup.
    """
    current = host.read(path)
    if current == text:
        return None
    if host.dry:
        return f"would change {path}:\n{diff(current, text, path)}"
    backup = host.install(path, text, owner=owner, mode=mode, backup_dir=backup_dir)
    return f"wrote {path}" + (f" (previous copy: {backup})" if backup else " (new file)")


def diff(old, new, path):
    """A unified diff of a file's text (old None: a new file)."""
    lines = difflib.unified_diff((old or "").splitlines(), new.splitlines(),
                                 "/dev/null" if old is None else path, path, lineterm="", n=1)
    return "\n".join(lines)


def ensure_block(host, path, lines, owner, mode, backup_dir, at="end"):
    """Make the managed block in `path` hold `lines`; None when unchanged."""
    current = host.read(path)
    if current is None:
        raise FileNotFoundError(f"{host.name}: {path} does not exist")
    return ensure_text(host, path, replace_block(current, lines, at), owner, mode, backup_dir)
