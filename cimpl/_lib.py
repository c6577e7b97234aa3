"""Loading the lab libraries and turning their error codes into exceptions.

The libraries are installed inside this package as lib<lab>.so.  We find them
with importlib.resources, not Path(__file__): in an editable install the .so
files live in the meson build folder, and the editable loader maps them here.
Set LATENCYLAB_LIBDIR to load them from another folder instead (`make
sanitize` points it at an ASan/UBSan build).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from importlib.resources import as_file, files

from pyimpl import errors, itch

# C error codes (cimpl/common.h) -> a function building the exception.  The
# argument is the name of the thing the call was about (usually a segment).
LL_EBADNAME = -1001
LL_EBADSIZE = -1002
LL_EBADMAGIC = -1003
LL_EBADVERSION = -1004
LL_EBADLAYOUT = -1005
LL_EBADKIND = -1006
LL_ETIMEDOUT = -1007
LL_EINVAL = -1008
LL_ENOCPU = -1009
LL_ENORES = -1010
LL_EBUSY = -1011
LL_EPEERDEAD = -1012
LL_ECLOSED = -1013
LL_ENOORDER = -1014
LL_EDUPORDER = -1015
LL_EZEROSHARES = -1016
LL_EOVERFILL = -1017
LL_EBADSIDE = -1018
LL_EBADLOCATE = -1019
LL_EBOOKFULL = -1020
LL_ETRUNCATED = -1021
LL_EBADFRAME = -1022
LL_EUNKNOWNMSG = -1023
LL_EBADMODEL = -1024
LL_ENONFINITE = -1025
LL_ECORRUPT = -1026

ERRORS = {
    LL_EBADNAME: errors.bad_name,
    LL_EBADSIZE: lambda what: errors.bad_size(what),
    LL_EBADMAGIC: errors.not_ours,
    LL_EBADVERSION: errors.bad_version,
    LL_EBADLAYOUT: errors.bad_layout,
    LL_EBADKIND: errors.bad_kind,
    LL_ETIMEDOUT: errors.peer_timeout,
    LL_EINVAL: lambda what: ValueError(f"{what}: invalid argument"),
    LL_ENOCPU: lambda what: OSError(f"{what}: cannot pin to that CPU (not in this process's allowed set?)"),
    LL_ENORES: lambda what: OSError(f"{what}: out of resources (memory, or a thread that would not start)"),
    LL_EBUSY: errors.role_taken,
    LL_EPEERDEAD: errors.peer_died,
    LL_ECLOSED: errors.ring_closed,
    # lab 5: `what` is the order ref (the side, the locate) the update was about;
    # cimpl/order_book.py builds the exact message from C's ll_book_err instead
    LL_ENOORDER: errors.unknown_order,
    LL_EDUPORDER: errors.duplicate_order,
    LL_EZEROSHARES: errors.zero_shares,
    LL_EOVERFILL: lambda what: errors.BookError(f"more shares than order {what} has left"),
    LL_EBADSIDE: errors.bad_side,
    LL_EBADLOCATE: errors.bad_locate,
    LL_EBOOKFULL: lambda what: errors.CapacityError(f"{what}: the book is full"),
    LL_ETRUNCATED: lambda what: itch.ItchError(f"{what}: truncated"),
    LL_EBADFRAME: lambda what: itch.ItchError(f"{what}: length disagrees with the message type's size"),
    LL_EUNKNOWNMSG: lambda what: itch.ItchError(f"{what}: unknown message type"),
    # lab 6: cimpl/ml_inference.py words them as pyimpl.ml_inference does (the row and column of a NaN)
    LL_EBADMODEL: lambda what: _model_error(f"{what}: model arrays that do not fit, hold NaN/inf, or scale <= 0"),
    LL_ENONFINITE: lambda what: ValueError(f"{what}: input has NaN or inf: features must be finite"),
    # lab 3: damaged data is its own exception, never a ValueError (a caller's mistake)
    LL_ECORRUPT: errors.corrupted,
}


def _model_error(message: str) -> Exception:
    # imported here, not at the top: pyimpl.ml_inference loads NumPy, which other labs do not need
    from pyimpl.ml_inference import ModelError

    return ModelError(message)


@functools.cache
def load(lab: str) -> ctypes.CDLL:
    """The shared library of one lab, loaded once per process."""
    override = os.environ.get("LATENCYLAB_LIBDIR")
    if override:
        return ctypes.CDLL(os.path.join(override, f"lib{lab}.so"))
    resource = files("cimpl") / f"lib{lab}.so"
    with as_file(resource) as path:  # a real path on disk (the editable loader gives one)
        return ctypes.CDLL(os.fspath(path))


def bind(lab: str, name: str, restype, *argtypes):
    """Function `name` of lib<lab>.so with its restype and argtypes set: always
    both (ctypes' default restype is a C int, which truncates pointers and
    64-bit values, and without argtypes Python ints go in as C ints)."""
    fn = getattr(load(lab), name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


def error(code: int, what: str) -> Exception:
    """The exception for a negative return code of the C library."""
    make = ERRORS.get(code)
    if make is not None:
        return make(what)
    # A negative errno: OSError picks the subclass (FileNotFoundError, ...).
    return OSError(-code, os.strerror(-code), what)


def check(code: int, what: str) -> int:
    """Return `code` if it is >= 0, else raise the matching exception."""
    if code < 0:
        raise error(code, what)
    return code


class Owned:
    """A Python object that owns one C object (the handle a create function
    returned): close() frees it exactly once, `with` closes it, and __del__
    is the safety net.  A subclass sets `_free` (the C destroy function) and
    `_what` (its name in the "is closed" error), and stores the handle in `_h`."""

    _free = None
    _what = "object"
    _h = None

    def close(self) -> None:
        """Free the C object; this one is unusable afterwards."""
        h, self._h = self._h, None
        if h:
            type(self)._free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_h", None):
            with contextlib.suppress(Exception):  # at interpreter exit the module's globals may be gone
                self.close()

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise ValueError(f"the {self._what} is closed")
        return h
