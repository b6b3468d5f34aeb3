"""What kind of filesystem entry a store path is, looked at without following links or opening it.

The one primitive both the store layout and the lease lock use before touching a path: a symbolic link,
a fifo or a directory where a file belongs is damage, reported and never followed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = {stat.S_IFDIR: "directory", stat.S_IFREG: "regular file", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket",
          stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}  # fmt: skip


def odd_entry(path: Path, want: str = "file") -> str | None:
    """What is wrong with ``path`` as a store entry that should be a ``want`` ("file": a regular file,
    "dir": a directory), or None when it is one or is absent. Looks with ``lstat``: never follows a
    link and never opens the entry (a fifo would block a reader).

    >>> odd_entry(Path("/dev/null"))
    'is a character device, not a regular file'
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # absent (under a file, nothing can be)
        return None
    except OSError as e:
        return f"cannot be examined ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"is a symbolic link (to {target}); the store never follows links"
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "special file")
    expected = "regular file" if want == "file" else "directory"
    return None if kind == expected else f"is a {kind}, not a {expected}"
