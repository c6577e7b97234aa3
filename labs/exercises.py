"""Exercises a learner can check: `latencylab check [LAB [EXERCISE]] [--solution]`.

An exercise lives in `exercises/<lab>/<exercise>/` at the top of the repository:

    README.md      the task, the rule for passing, a pointer to the guide's section
    <files>        the learner's starting file(s): a `.c` and/or a `.py` holding only
                   the part to write, built and loaded beside the reference without
                   touching cimpl/ or pyimpl/
    solution/      the same files, solved
    wrong/<name>/  known-wrong answers (correctness exercises): the tests feed each
                   to the check and assert it is rejected
    check.py       `EXERCISE = Exercise(...)`: the declaration and the check

A check is a function `(attempt) -> Verdict`. `Attempt` gives it the files to
judge (the learner's, the solution's or a wrong answer's): `attempt.build_c(...)`
compiles C sources into a shared library with the project's flags and loads it
with ctypes, `attempt.load_py(...)` imports a Python file, and `attempt.reference`
is the exercise folder's own `solution/` (for a speed check's baseline and for
comparisons). A correctness check reuses the lab's own invariants and streams (the
same C and Python implementations, the same cross-process hammer); a speed check
compares the attempt with a baseline measured in the same run, in interleaved
repeats (`compare_speed`), and passes on a stated ratio with margin. A speed
check never decides correctness: every speed exercise checks its answer first.

A check must be able to fail: `make test` runs every check on the shipped solution
(it must pass), on the untouched starting files (each must fail, and for the reason
the exercise says, `start_fails_because`) and on every known-wrong answer (each
must be rejected).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]  # the repository (the install is editable)
CIMPL = ROOT / "cimpl"
KINDS = ("correctness", "speed")
# the project's C flags (meson.build): C11, warnings as errors, release optimisation
CFLAGS = ("-std=c11", "-O3", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-pthread")


def exercises_dir() -> Path:
    """Where the exercises are: $LATENCYLAB_EXERCISES, or exercises/ in the repository."""
    return Path(os.environ.get("LATENCYLAB_EXERCISES", ROOT / "exercises"))


class CheckFailed(Exception):
    """A check's verdict, raised from deep inside it: the reason is what the learner reads."""


class BuildError(CheckFailed):
    """The attempt's C did not compile (the compiler's first lines are the reason)."""


@dataclass
class Verdict:
    passed: bool
    reason: str  # one line: what was checked and, if it failed, which check with which figure
    ratio: float | None = None  # speed exercises: the measured ratio against the baseline
    figures: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    lab: str  # the lab id ("spsc-ring")
    id: str  # the exercise's folder name ("publish-every-k")
    title: str
    kind: Literal["correctness", "speed"]
    files: tuple[str, ...]  # the learner's files, relative to the exercise folder
    check: Callable[["Attempt"], Verdict]
    guide: str  # the guide section it comes from ("labs/03-spsc-ring/README.md#14-exercises")
    start_fails_because: str  # a phrase the starting files' failing reason must contain
    languages: tuple[str, ...] = ("python",)  # "c", "python"

    @property
    def folder(self) -> Path:
        return exercises_dir() / self.lab / self.id

    @property
    def name(self) -> str:
        return f"{self.lab}/{self.id}"


class Attempt:
    """The files a check judges: an exercise folder's own (the learner's), its
    solution/, or a wrong/<name>/ answer."""

    def __init__(self, exercise: Exercise, where: Path) -> None:
        self.exercise = exercise
        self.where = Path(where)
        missing = [f for f in exercise.files if not (self.where / f).is_file()]
        if missing:
            raise CheckFailed(f"missing {', '.join(missing)} in {self.where}")

    @property
    def reference(self) -> Attempt:
        """The exercise's solution, for a baseline or a comparison."""
        return Attempt(self.exercise, self.exercise.folder / "solution")

    def path(self, name: str) -> Path:
        return self.where / name

    def build_c(self, *sources: str, exercise_sources: tuple[str, ...] = (), cimpl_sources: tuple[str, ...] = (),
                defines: tuple[str, ...] = ()) -> ctypes.CDLL:
        """Compile the attempt's C `sources` (names in its folder), with the exercise
        folder's own `exercise_sources` (a timing kernel, not the learner's to edit)
        and cimpl/'s `cimpl_sources` (e.g. "common.c") beside them, into a shared library with
        the project's flags, and load it.  Cached by content: an unchanged
        attempt is not rebuilt.  BuildError with the compiler's message."""
        files = ([self.path(s) for s in sources] + [self.exercise.folder / s for s in exercise_sources]
                 + [CIMPL / s for s in cimpl_sources])
        return ctypes.CDLL(str(self._compile(files, list(CFLAGS), defines, ".so", sources)))

    def build_exe(self, *sources: str, exercise_sources: tuple[str, ...] = (), cimpl_sources: tuple[str, ...] = (),
                  sanitize: str | None = None, defines: tuple[str, ...] = ()) -> Path:
        """Compile an executable: the attempt's `sources`, the exercise folder's own
        `exercise_sources` (a harness with main(), not the learner's to edit) and
        cimpl/'s `cimpl_sources`, optionally under a sanitizer ("thread",
        "address,undefined"); returns its path (cached by content)."""
        files = ([self.path(s) for s in sources] + [self.exercise.folder / s for s in exercise_sources]
                 + [CIMPL / s for s in cimpl_sources])
        flags = [f for f in CFLAGS if f not in ("-shared", "-fPIC")]
        if sanitize:
            flags = [f if f != "-O3" else "-O1" for f in flags] + [f"-fsanitize={sanitize}", "-g"]
        return self._compile(files, flags, defines, ".exe", sources)

    def _compile(self, files: list[Path], flags: list[str], defines: tuple[str, ...], suffix: str,
                 sources: tuple[str, ...]) -> Path:
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.name.encode() + f.read_bytes())
        digest.update(" ".join([*flags, *defines]).encode())
        out_dir = Path(tempfile.gettempdir()) / f"latencylab-check-{os.getuid()}"
        out_dir.mkdir(exist_ok=True)
        out = out_dir / f"{self.exercise.lab}-{self.exercise.id}-{digest.hexdigest()[:16]}{suffix}"
        if not out.exists():
            cc = os.environ.get("CC", "cc")
            tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
            cmd = [cc, *flags, *(f"-D{d}" for d in defines), "-I", str(CIMPL), "-I", str(self.exercise.folder),
                   "-o", str(tmp), *map(str, files), "-lm"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except FileNotFoundError:
                raise BuildError(f"no C compiler ({cc}) to build {', '.join(sources)}") from None
            if done.returncode != 0:
                first = "; ".join(line.strip() for line in done.stderr.splitlines() if "error" in line)[:400]
                raise BuildError(f"{', '.join(sources)} does not compile: {first or done.stderr[:400]}")
            tmp.replace(out)
        return out

    def run_exe(self, exe: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run an executable built by build_exe; CheckFailed if it does not finish in time."""
        try:
            return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"{exe.name} did not finish within {timeout:.0f} s (a wait that never ends?)") from None

    def load_py(self, name: str):
        """Import the attempt's Python file `name` as a fresh module."""
        path = self.path(name)
        mod_name = f"_exercise_{self.exercise.lab}_{self.exercise.id}_{path.stem}_{abs(hash(str(path)))}".replace("-", "_")
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # a learner's file that does not import is a failed check, with its error
            raise CheckFailed(f"{name} does not import: {type(e).__name__}: {e}") from None
        return module


def compare_speed(attempt_fn: Callable[[], float], baseline_fn: Callable[[], float], repeats: int = 5) -> dict:
    """baseline / attempt of two timing functions (each returns seconds or ns of
    the same work: lower is faster), interleaved A, B, A, B... `repeats` times in
    this run; the verdict's figure is the median of the per-pair ratios (each pair
    shares the machine's state of the moment), with the spread."""
    ratios, mine, base = [], [], []
    for _ in range(repeats):
        b = baseline_fn()
        a = attempt_fn()
        base.append(b)
        mine.append(a)
        ratios.append(b / a if a > 0 else float("inf"))
    return {"ratio": statistics.median(ratios), "ratios": ratios, "attempt": statistics.median(mine),
            "baseline": statistics.median(base), "repeats": repeats}


def speed_verdict(what: str, cmp: dict, need: float, unit: str = "ns") -> Verdict:
    """Pass when the median ratio reaches `need` (the exercise's stated goal, set
    with margin below what the solution gets)."""
    ok = cmp["ratio"] >= need
    lo, hi = min(cmp["ratios"]), max(cmp["ratios"])
    reason = (f"{what}: {cmp['ratio']:.2f}x the baseline (median of {cmp['repeats']} interleaved pairs, "
              f"{lo:.2f}-{hi:.2f}; attempt {cmp['attempt']:.3g} {unit}, baseline {cmp['baseline']:.3g} {unit}); "
              f"needs {need:.2f}x")
    if not ok:
        reason += " - not reached (a noisy shared machine may need a rerun)"
    return Verdict(ok, reason, ratio=cmp["ratio"], figures=cmp)


def load_all() -> list[Exercise]:
    """Every exercise under exercises/<lab>/<exercise>/check.py, in course order."""
    from . import registry

    order = {lab.id: lab.number for lab in registry.all_labs()}
    out = []
    base = exercises_dir()
    for check in sorted(base.glob("*/*/check.py")):
        spec = importlib.util.spec_from_file_location(f"_exercise_decl_{check.parent.parent.name}_{check.parent.name}"
                                                      .replace("-", "_"), check)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ex = module.EXERCISE
        if (ex.lab, ex.id) != (check.parent.parent.name, check.parent.name):
            raise ValueError(f"{check}: declares {ex.lab}/{ex.id}, lives in {check.parent.parent.name}/{check.parent.name}")
        if ex.kind not in KINDS:
            raise ValueError(f"{check}: kind must be one of {KINDS}, got {ex.kind!r}")
        out.append(ex)
    return sorted(out, key=lambda e: (order.get(e.lab, 99), e.id))


def select(names: list[str]) -> list[Exercise]:
    """`[]` every exercise; `[LAB]` a lab's (by id or number); `[LAB, EX]` one."""
    from . import registry

    every = load_all()
    if not names:
        return every
    lab = registry.get(names[0]).id
    chosen = [e for e in every if e.lab == lab and (len(names) < 2 or e.id == names[1])]
    if not chosen:
        raise KeyError(f"no exercise {'/'.join(names)} (see exercises/{lab}/)")
    return chosen


def judge(exercise: Exercise, where: Path) -> Verdict:
    """Run the exercise's check on the files in `where`; a crash of the check is a
    failed verdict naming the error, never a traceback for the learner."""
    t0 = time.monotonic()
    try:
        verdict = exercise.check(Attempt(exercise, where))
    except CheckFailed as e:
        verdict = Verdict(False, str(e))
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure, said plainly
        verdict = Verdict(False, f"the check raised {type(e).__name__}: {e}")
    verdict.figures.setdefault("seconds", round(time.monotonic() - t0, 2))
    return verdict


# ------------------------------------------------------------ isolation
CHECK_TIMEOUT = 300.0  # a check that hangs (a learner's loop that never ends) is a failure, not a hang


def _child(name: str, where: str, results) -> None:
    lab, ex_id = name.split("/")
    exercise = select([lab, ex_id])[0]
    v = judge(exercise, Path(where))
    results.put((v.passed, v.reason, v.ratio, v.figures))


def judge_isolated(exercise: Exercise, where: Path, timeout: float = CHECK_TIMEOUT) -> Verdict:
    """judge() in a spawned child process: a learner's C that crashes, or a loop
    that never ends, fails its check with the reason instead of taking the checker
    down or hanging it."""
    import multiprocessing as mp
    import queue
    import signal

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(exercise.name, str(where), results), daemon=True)
    proc.start()
    deadline = time.monotonic() + timeout
    try:
        while True:  # a child that died (a learner's C that crashed) is reported at once, not at the timeout
            try:
                passed, reason, ratio, figures = results.get(timeout=0.25)
                return Verdict(passed, reason, ratio, figures)
            except queue.Empty:
                if not proc.is_alive():  # gone: a second for a result it sent just before it exited
                    passed, reason, ratio, figures = results.get(timeout=1.0)
                    return Verdict(passed, reason, ratio, figures)
                if time.monotonic() >= deadline:
                    raise
    except queue.Empty:
        if proc.is_alive():
            return Verdict(False, f"the check did not finish within {timeout:.0f} s (a wait that never ends?)")
        code = proc.exitcode
        what = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        return Verdict(False, f"the attempt crashed the check ({what}): in C, look for an out-of-bounds access")
    finally:
        proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join()
