"""Managed blocks in shared files, and diffs of a file's text: the pure half
of the file helpers patchwork would have given (it cannot run on invoke 2).
steps/config.py writes them on hosts.  Pure.
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


def diff(old, new, path):
    """A unified diff of a file's text (old None: a new file)."""
    lines = difflib.unified_diff((old or "").splitlines(), new.splitlines(),
                                 "/dev/null" if old is None else path, path, lineterm="", n=1)
    return "\n".join(lines)
