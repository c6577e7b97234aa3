"""The pure-Python side of latencylab: one module per lab, each with the same
API as the matching module in `cimpl` (which does the work in C).

`pyimpl` is also the reference for the API's shared pieces: the exception
types (`pyimpl.errors`) and value types (e.g. `pyimpl.shm_basics.Quote`) that
both implementations use.
"""
