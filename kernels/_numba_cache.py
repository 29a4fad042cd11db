"""Where the Numba kernels' machine code is cached, and how a bad cache heals.

Numba keeps each ``cache=True`` function's compiled code in an index file
(``.nbi``) and data files (``.nbc``), by default in the ``__pycache__`` next to
the source.  Two faults a user meets are handled here:

* where to cache at all: next to the source, the files would stay behind in
  site-packages after ``pip uninstall`` (pip removes only what it installed),
  and a read-only install has no such folder (Numba then refuses to define
  the function).  :class:`UserCacheLocator` puts tapegrad's own kernels in a
  per-user folder (``$XDG_CACHE_HOME/tapegrad/numba``, else
  ``~/.cache/tapegrad/numba``), then one in the temp dir, ahead of Numba's
  in-tree folder.  ``NUMBA_CACHE_DIR`` still wins when it is set.  Its
  entries are also stamped with the files a kernel's code comes from
  (:func:`depends_on`), not only the file that defines it.
* a truncated or corrupted cache entry: Numba raises while loading it (e.g.
  ``EOFError: Ran out of input``) on every run.  :func:`guard_caches` wraps
  each kernel's cache so that such an entry is dropped and recompiled once.

Both say what they did in one line on stderr, as does the first compile.
"""

from __future__ import annotations

import os
import sys
import tempfile

from numba.core import caching
from numba.core import config as _numba_config

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_IN_TREE = os.path.join(_PACKAGE_DIR, "__pycache__")

COMPILING = "tapegrad: compiling the Numba kernels (first run only, about 15-30 s)..."

_said = set()   # which one-line notices this process has printed


def _say_once(key, line):
    if key not in _said:
        _said.add(key)
        print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- where
def fallback_dirs(environ=os.environ) -> list[str]:
    """The per-user cache folders to try, in order."""
    dirs = []
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg:
        dirs.append(os.path.join(xdg, "tapegrad", "numba"))
    home = os.path.expanduser("~")
    if home and home != "~":
        dirs.append(os.path.join(home, ".cache", "tapegrad", "numba"))
    user = getattr(os, "getuid", lambda: "user")()
    dirs.append(os.path.join(tempfile.gettempdir(), f"tapegrad-numba-{user}"))
    return dirs


def first_usable(dirs, usable):
    """The first folder of ``dirs`` for which ``usable(folder)`` is true, or None."""
    return next((d for d in dirs if usable(d)), None)


def writable(folder) -> bool:
    """Whether ``folder`` exists (or can be made) and takes a new file."""
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


_UserProvided = getattr(caching, "UserProvidedCacheLocator", None) or caching._UserProvidedCacheLocator
_Impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl


#: kernel file -> the other files its compiled code is built from (see depends_on)
_DEPENDENCIES: dict = {}


def depends_on(py_file, *names) -> None:
    """Declare that the cached kernels of ``py_file`` also compile code from ``names``.

    Numba stamps a cache entry with its own source file only, so after an
    edit of ``numba_microkernels.py`` the driver in ``numba_gemm.py`` would
    keep running the old micro-kernel.  A declared file's stamp joins the
    entry's stamp: editing it recompiles its users.  Call it before the
    module's first ``@njit(cache=True)``: Numba reads the stamp at decoration.
    """
    _DEPENDENCIES[os.path.abspath(py_file)] = tuple(os.path.join(_PACKAGE_DIR, n) for n in names)


def _file_stamp(path):
    st = os.stat(path)
    return (os.path.basename(path), st.st_mtime, st.st_size)


class UserCacheLocator(_UserProvided):
    """Numba cache locator for tapegrad's kernels: a per-user folder outside the
    install (or ``NUMBA_CACHE_DIR``), stamped with the files the code comes from."""

    #: the folder chosen by the first function that needed it (None: not yet)
    chosen = None

    def __init__(self, py_func, py_file, directory=None):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(directory or self.chosen,
                                        self.get_suitable_cache_subpath(py_file))

    def get_source_stamp(self):
        stamp = super().get_source_stamp()
        extra = _DEPENDENCIES.get(os.path.abspath(self._py_file), ())
        return (stamp, *map(_file_stamp, extra)) if extra else stamp

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.commonpath([os.path.abspath(py_file), _PACKAGE_DIR]) != _PACKAGE_DIR:   # kernels/ and its family folders
            return None
        directory = _numba_config.CACHE_DIR or None   # NUMBA_CACHE_DIR wins
        if directory is None:
            if cls.chosen is None:
                cls.chosen = first_usable(fallback_dirs(), writable)
                if cls.chosen is None:
                    return None
        locator = cls(py_func, py_file, directory)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


def install_locator():
    """Put ours first, so tapegrad's kernels never cache next to their source."""
    classes = _Impl._locator_classes
    if UserCacheLocator not in classes:
        classes.insert(0, UserCacheLocator)


# ---------------------------------------------------------------- heal
def _guarded(cache):
    load = cache.load_overload

    def load_overload(sig, target_context):
        try:
            result = load(sig, target_context)
        except Exception as exc:   # any failure to read an entry: it is unusable
            try:
                cache.flush()      # an empty index; the next save reuses the data names
            except OSError:
                pass
            _say_once(("dropped", cache.cache_path),
                      f"tapegrad: dropped unreadable Numba cache entries in {cache.cache_path} "
                      f"({type(exc).__name__}: {exc}); recompiling them")
            _said.update(("compiling", "folder"))   # that line said it all
            result = None
        if result is None:
            _say_once("compiling", COMPILING)
            if os.path.abspath(cache.cache_path) != _IN_TREE:
                _say_once("folder", f"tapegrad: Numba's cache for these kernels is {cache.cache_path}")
        return result

    return load_overload


def guard_caches(namespace) -> None:
    """Make every cached Numba function in ``namespace`` heal a bad cache entry
    and announce its first compile (wraps the dispatcher's cache loader)."""
    for obj in list(namespace.values()):
        cache = getattr(obj, "_cache", None)
        if isinstance(cache, caching.Cache) and "load_overload" not in vars(cache):
            cache.load_overload = _guarded(cache)
