"""Fixtures shared by the whole test suite.

- `impl`: the module under test, once per implementation.  The test ids are
  `cimpl` (the C library through ctypes) and `pyimpl` (pure Python), so
  `pytest -k cimpl` selects every test that runs C code and `pytest -k pyimpl`
  the pure-Python ones.  (`-k c` would not work: -k matches substrings of the
  test, module and directory names, and "c" is in almost all of them.)
  Tests that run C code without taking `impl` carry the `cimpl` marker, which
  -k matches too.
- `impl_pair`: (first, second) over all four combinations, for cross-language
  tests; ids like `cimpl-pyimpl`.
- `lab_fixtures(module, one, pair)`: the same two fixtures for any lab's modules
  (lab 1's `impl`/`impl_pair` are made with it; lab 2 binds `fs`/`fs_pair`,
  lab 3 `ring_impl`/`ring_pair`).
- `shm_name` / `new_shm_name`: unique segment names for this test, with their
  /dev/shm files removed afterwards whatever happened in the test.
- A session check that this run left no /dev/shm/latencylab-t-<pid>-* behind.
"""

from __future__ import annotations

import glob
import importlib
import itertools
import os

import pytest

SHM_DIR = "/dev/shm"
PREFIX = "latencylab-"
# Every name a test makes starts with this, so the session check finds ours only.
RUN_TAG = f"t-{os.getpid()}-"

IMPL_IDS = {"c": "cimpl", "python": "pyimpl"}

_counter = itertools.count()


def shm_path(name: str) -> str:
    return os.path.join(SHM_DIR, PREFIX + name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cimpl: runs C code without the `impl` fixture (selected by -k cimpl)")


def lab_fixtures(module: str, one: str, pair: str):
    """Two fixtures for a lab's tests: `one`, the module under test once per
    implementation (cimpl.<module>, pyimpl.<module>; ids cimpl / pyimpl), and
    `pair`, (first, second) over all four combinations (ids like cimpl-pyimpl).
    A test file binds them to module-level names so pytest finds them."""
    modules = {key: f"{pkg}.{module}" for key, pkg in (("c", "cimpl"), ("python", "pyimpl"))}
    pairs = [(a, b) for a in modules for b in modules]

    @pytest.fixture(name=one, params=list(modules), ids=[IMPL_IDS[k] for k in modules])
    def one_fixture(request: pytest.FixtureRequest):
        return importlib.import_module(modules[request.param])

    @pytest.fixture(name=pair, params=pairs, ids=[f"{IMPL_IDS[a]}-{IMPL_IDS[b]}" for a, b in pairs])
    def pair_fixture(request: pytest.FixtureRequest):
        a, b = request.param
        return importlib.import_module(modules[a]), importlib.import_module(modules[b])

    return one_fixture, pair_fixture


# lab 1: cimpl.shm_basics / pyimpl.shm_basics
impl_fixture, impl_pair_fixture = lab_fixtures("shm_basics", "impl", "impl_pair")


@pytest.fixture
def new_shm_name():
    """A factory of unique segment names; every name it gave is unlinked after the test.

    `new_shm_name(length)` pads the name with 'x' to exactly `length` characters;
    `prefix`/`suffix` go around the unique part (for testing the name rules).
    """
    names: list[str] = []

    def make(length: int | None = None, prefix: str = "", suffix: str = "") -> str:
        name = f"{prefix}{RUN_TAG}{next(_counter)}{suffix}"
        if length is not None:
            assert len(name) <= length
            name = name + "x" * (length - len(name))
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            os.unlink(shm_path(name))
        except FileNotFoundError:
            pass


@pytest.fixture
def shm_name(new_shm_name) -> str:
    """One unique segment name, unlinked after the test if it still exists."""
    return new_shm_name()


@pytest.fixture(scope="session", autouse=True)
def no_leftover_segments():
    """Fail the run if it left any /dev/shm/latencylab-t-<our pid>-* behind (and remove them)."""
    yield
    left = sorted(glob.glob(shm_path(RUN_TAG + "*")))
    for path in left:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    if left:
        pytest.fail(f"the test run left shared-memory segments behind: {left}", pytrace=False)
