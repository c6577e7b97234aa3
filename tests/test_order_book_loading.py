"""Lab 5: a C library that does not load, or loads but disagrees with the
Python side on a layout, fails the lab's tests; it is never skipped.

cimpl.order_book raises ImportError when liborder_book.so lays out its error
or stats struct, or an ITCH message, differently from the Python side, and
ctypes raises OSError when the library cannot be loaded at all.  The C tests
used pytest.importorskip, which under pytest 8 (what pyproject allows) skips a
whole file on an ImportError (pytest 9 skips only ModuleNotFoundError), and
the hypothesis test dropped the C book on any version (`except ImportError:
continue`): it passed on the Python book alone.  Now both import plainly.
Each case runs pytest in a child process, so this file itself loads no C:
- the library unloadable: LATENCYLAB_LIBDIR pointing at an empty folder;
- a layout disagreement: a pytest plugin (-p) that makes the library report
  another size for ll_book_err, as a stale or mismatched build would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Loaded by the child pytest before it collects anything: liborder_book.so's
# layout_info answers one size wrong, everything else is the real library.
_DISAGREE = '''
import ctypes
from cimpl import _lib

_real_load = _lib.load


class _Wrong:
    argtypes, restype = [], ctypes.c_int64

    def __init__(self, real):
        self.real = real

    def __call__(self, what):
        self.real.argtypes, self.real.restype = self.argtypes, self.restype
        return self.real(what) + 8 if what == b"sizeof_err" else self.real(what)


class _Lib:
    def __init__(self, lib):
        self.lib = lib
        self.ll_book_layout_info = _Wrong(lib.ll_book_layout_info)

    def __getattr__(self, name):
        return getattr(self.lib, name)


def _load(lab):
    lib = _real_load(lab)
    return _Lib(lib) if lab == "order_book" else lib


_lib.load = _load
'''

SELECTIONS = [
    ["tests/test_order_book_c.py", "-k", "test_message_sizes_match_pyimpl_itch"],
    ["tests/test_order_book.py", "-k", "test_random_valid_streams_match_the_reference"],
    ["tests/test_order_book.py", "-k", "cimpl and test_adds_build_levels_best_first"],
]


def _pytest(tmp_path: Path, env: dict, *args: str) -> tuple[int, str]:
    got = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args],
                         cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=240)
    return got.returncode, got.stdout + got.stderr


@pytest.mark.parametrize("select", SELECTIONS, ids=["c-file", "hypothesis", "fixture"])
def test_an_unloadable_c_library_fails_the_lab_5_tests(tmp_path, select):
    rc, out = _pytest(tmp_path, {"LATENCYLAB_LIBDIR": str(tmp_path / "nonexistent")}, *select)
    assert rc != 0, out
    assert "skipped" not in out.splitlines()[-1], out  # the summary line: failures or errors, no skips
    assert "liborder_book.so" in out, out  # and it says why


@pytest.mark.parametrize("select", SELECTIONS, ids=["c-file", "hypothesis", "fixture"])
def test_a_layout_disagreement_fails_the_lab_5_tests(tmp_path, select):
    (tmp_path / "ll_disagree.py").write_text(_DISAGREE)
    pythonpath = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    rc, out = _pytest(tmp_path, {"PYTHONPATH": pythonpath}, "-p", "ll_disagree", *select)
    assert rc != 0, out
    assert "skipped" not in out.splitlines()[-1], out
    assert "disagrees with cimpl/order_book.py" in out and "sizeof ll_book_err" in out, out
