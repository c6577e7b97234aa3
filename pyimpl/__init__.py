"""The pure-Python side of latencylab: one module per lab, each with the same
API as the matching module in `cimpl` (which does the work in C).

`pyimpl` is also, on purpose, the one home of what both implementations of a lab
share, so that `cimpl` importing from `pyimpl` is the design, not a shortcut:

- the exception types and their messages (`pyimpl.errors`), raised alike by both;
- the value types and the byte layouts' Python constants (e.g.
  `pyimpl.shm_basics.Quote`, `pyimpl.spsc_ring.SLOTS`), each checked by a test
  against the C library's own layout facts;
- the halves of an API that need no C (`pyimpl.shm_basics.SegmentAPI`,
  `pyimpl.spsc_ring.RingAPI`) and the argument rules for Python callers
  (`pyimpl.spsc_ring.check_geometry`, `check_stream`), whose C twins the tests
  hold to agreement;
- lab 5's ITCH codec (`pyimpl.itch`).

Pure Python runs without a compiler; `cimpl` adds the C.
"""
