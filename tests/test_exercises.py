"""The exercises (exercises/<lab>/<exercise>/) and `latencylab check`.

The checks must be able to fail: for every exercise, the shipped solution
passes, the untouched starting files fail for the reason the exercise names,
and every known-wrong answer in wrong/ is rejected.  `latencylab check
--solution` (the command a learner runs, every check in its own child process)
passes as a whole.  Speed checks compare with a baseline measured in the same
run, with a wide margin; a verdict on a noisy machine is still a measurement,
so `latencylab check` runs a speed check that misses once more before the
failure counts.
"""

from __future__ import annotations

import re

import pytest

from labs import cli, exercises, registry

EXERCISES = exercises.load_all()
IDS = [e.name for e in EXERCISES]
WRONG = [(e, w) for e in EXERCISES for w in sorted((e.folder / "wrong").glob("*")) if w.is_dir()]


def test_every_lab_has_checked_exercises():
    """At least two per lab, at least one speed and one correctness exercise each."""
    by_lab: dict[str, list] = {}
    for e in EXERCISES:
        by_lab.setdefault(e.lab, []).append(e)
    for lab in registry.all_labs():
        if not lab.available:
            continue
        got = by_lab.get(lab.id, [])
        assert len(got) >= 2, f"{lab.id}: {len(got)} exercises"
        assert {e.kind for e in got} == {"speed", "correctness"}, (lab.id, [e.kind for e in got])
    langs = {lang for e in EXERCISES for lang in e.languages}
    assert langs == {"c", "python"}


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_exercise_folder_is_complete(ex):
    assert ex.folder.is_dir()
    readme = (ex.folder / "README.md").read_text()
    assert f"latencylab check {ex.lab} {ex.id}" in readme, "the README says how to check it"
    assert re.search(r"rule for passing", readme, re.I), "the README states the rule for passing"
    guide, _, anchor = ex.guide.partition("#")
    assert (exercises.ROOT / guide).is_file(), ex.guide
    for f in ex.files:
        assert (ex.folder / f).is_file() and (ex.folder / "solution" / f).is_file(), f
        assert (ex.folder / f).read_bytes() != (ex.folder / "solution" / f).read_bytes(), f"{f}: starts solved"
    if ex.kind == "correctness":
        assert any(w for e, w in WRONG if e is ex), "a correctness exercise ships known-wrong answers"


@pytest.mark.slow
@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_starting_files_fail_for_the_stated_reason(ex):
    v = exercises.judge_isolated(ex, ex.folder)
    assert not v.passed, f"the untouched starting files pass: {v.reason}"
    assert ex.start_fails_because in v.reason, v.reason


@pytest.mark.slow
@pytest.mark.parametrize("ex, wrong", WRONG, ids=[f"{e.name}:{w.name}" for e, w in WRONG])
def test_known_wrong_answers_are_rejected(ex, wrong):
    v = exercises.judge_isolated(ex, wrong)
    assert not v.passed, f"{wrong.name} was accepted: {v.reason}"
    assert "crashed" not in v.reason and "did not finish" not in v.reason, v.reason  # rejected by a check, cleanly


def test_a_crashing_attempt_is_a_failed_verdict(tmp_path):
    """A learner's C that segfaults fails its check with the reason, never takes the checker down."""
    ex = next(e for e in EXERCISES if e.id == "cheapest-publish")
    (tmp_path / "publish.c").write_text(
        "#include <stdatomic.h>\n#include <stdint.h>\n"
        "void ex_publish(uint64_t *d, _Atomic uint64_t *f, uint64_t v, uint64_t s)"
        "{ (void)d; (void)f; (void)s; *(volatile uint64_t *)(uintptr_t)8 = v; }\n")
    v = exercises.judge_isolated(ex, tmp_path)
    assert not v.passed
    assert "ThreadSanitizer" in v.reason or "crashed" in v.reason or "SEGV" in v.reason, v.reason


def test_a_file_that_does_not_compile_says_so(tmp_path):
    ex = next(e for e in EXERCISES if e.id == "cheapest-publish")
    (tmp_path / "publish.c").write_text("this is not C\n")
    v = exercises.judge(ex, tmp_path)
    assert not v.passed and "does not compile" in v.reason


def test_select():
    assert [e.name for e in exercises.select([])] == IDS
    assert {e.lab for e in exercises.select(["4"])} == {"memory-ordering"}
    with pytest.raises(KeyError, match="no exercise"):
        exercises.select(["memory-ordering", "nope"])


@pytest.mark.slow
def test_cli_check_solution_passes_every_exercise(capsys):
    """What a learner (and the README) runs: `latencylab check --solution`."""
    rc = cli.main(["check", "--solution"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"{len(EXERCISES)} of {len(EXERCISES)} passed" in out


def test_cli_check_unknown(capsys):
    assert cli.main(["check", "memory-ordering", "nope"]) == 2
