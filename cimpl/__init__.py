"""The C side of latencylab: one shared library per lab (cimpl/<lab>.c, built
by meson) and, next to it, the ctypes bindings (cimpl/<lab>.py) that give it
the same Python API as the pure-Python module in `pyimpl`."""
