"""Write a file atomically: into a temporary name beside it, then rename.

The temporary file sits in the destination's folder (so ``os.replace`` is an
atomic rename on one file system) and its name carries the writer's process
id: ``.<name>.tapegrad-<pid>-<random><suffix>``.  A writer killed outright
(``kill -9``, a power cut) cannot delete its temp file, so each new write to
a folder first deletes the temp files whose writer process no longer exists.

The file is created with mode ``0o666`` less the umask, as ``open()`` would
(``tempfile.mkstemp`` would give ``0o600``); replacing an existing file keeps
that file's permission bits instead.  A rename makes a new file, so a hard
link to the old one keeps the old contents: every atomic writer breaks hard
links, and we accept that for never leaving a half-written file.  On a folder
shared by several machines (NFS) a process id says nothing about the other
machines: there, a temp file may outlive its writer until deleted by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat

_MARK = "tapegrad"


def _temp_name_pattern(suffix):
    return re.compile(rf"^\..*\.{_MARK}-(\d+)-[0-9a-f]+{re.escape(suffix)}$")


def remove_dead_writers_temp_files(directory, suffix):
    """Delete the temp files in ``directory`` left by processes that no longer exist.

    A file whose writer is alive (or whose process id belongs to another
    user's process, which we may not signal) is kept.  Returns the names
    deleted.
    """
    if os.name != "posix":  # os.kill(pid, 0) ends the process on Windows
        return []
    pattern = _temp_name_pattern(suffix)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match is None or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue                     # the writer is still running
        except ProcessLookupError:
            pass                         # dead: its temp file is garbage
        except (PermissionError, OverflowError):
            continue                     # alive under another user, or no such pid: leave it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed


def path_string(path):
    """A path given as str, bytes or os.PathLike, as a str (Keras's ``path_to_string``)."""
    return os.fsdecode(os.fspath(path))


def _naming(exc, dest):
    """``exc`` (raised on the temp file) as the same kind of error naming ``dest``, the user's path."""
    return OSError(exc.errno, exc.strerror, dest) if exc.errno is not None else exc


@contextlib.contextmanager
def write_atomically(dest, suffix=".tmp"):
    """Yield a binary file to fill; on a clean exit it replaces ``dest``.

    On an exception (Ctrl-C included) the temp file is deleted and ``dest``
    is left as it was.  Temp files of dead writers in the folder are deleted
    first.  An error opening or renaming the temp file names ``dest``.
    """
    dest = path_string(dest)
    directory = os.path.dirname(os.path.abspath(dest))
    remove_dead_writers_temp_files(directory, suffix)
    base = os.path.basename(dest)
    while True:
        temp = os.path.join(directory, f".{base}.{_MARK}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise _naming(exc, dest) from None
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(dest).st_mode))  # replacing: keep its mode
        try:
            os.replace(temp, dest)
        except OSError as exc:
            raise _naming(exc, dest) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
