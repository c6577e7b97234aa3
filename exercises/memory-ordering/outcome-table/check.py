"""The check of exercises/memory-ordering/outcome-table (see README.md)."""

from __future__ import annotations

import platform

from labs.exercises import Exercise, Verdict
from labs.memory_ordering import VERDICTS

MODELS = ("x86-TSO", "C11")
WHY = {  # what to reread when an answer is wrong: (test, model) -> the rule
    ("SB:relaxed", "x86-TSO"): "a store waits in the store buffer while the later load of another address goes ahead",
    ("SB:relaxed", "C11"): "relaxed accesses promise no order between different variables",
    ("SB:fence", "x86-TSO"): "the fence (a locked instruction) drains the store buffer before the load",
    ("SB:fence", "C11"): "seq_cst fences between the store and the load order them in the single total order",
    ("SB:seq_cst", "x86-TSO"): "a seq_cst store is an xchg, which drains the store buffer",
    ("SB:seq_cst", "C11"): "seq_cst accesses are in one total order that every thread agrees on",
    ("MP:relaxed", "x86-TSO"): "x86 keeps stores in program order and loads in program order",
    ("MP:relaxed", "C11"): "relaxed stores of two variables may become visible in any order",
    ("MP:release_acquire", "x86-TSO"): "x86 keeps stores in order and loads in order",
    ("MP:release_acquire", "C11"): "an acquire load that reads a release store sees everything before that store",
    ("LB:relaxed", "x86-TSO"): "x86 never lets a load be satisfied after a later store of its own thread is visible",
    ("LB:relaxed", "C11"): "C11's relaxed accesses allow load buffering (out-of-thin-air aside)",
    ("2+2W:relaxed", "x86-TSO"): "x86's stores reach memory in program order, one total store order",
    ("2+2W:relaxed", "C11"): "relaxed stores to different variables may be seen in different orders",
}
ITERATIONS = 300_000  # per test on the real CPU: SB's outcome shows up thousands of times in that many


def check(attempt) -> Verdict:
    table = getattr(attempt.load_py("table.py"), "ALLOWED", None)
    if not isinstance(table, dict):
        return Verdict(False, "table.py must define ALLOWED, a dict of test -> {model: bool}")
    for test in VERDICTS:
        row = table.get(test)
        for model in MODELS:
            answer = row.get(model) if isinstance(row, dict) else None
            if not isinstance(answer, bool):
                return Verdict(False, f"not filled in: ALLOWED[{test!r}][{model!r}] is {answer!r}, "
                                      "expected True (allowed) or False (forbidden)")
    # the hardware first: an outcome you call forbidden on x86, seen on this x86 CPU
    figures = {}
    if platform.machine() in ("x86_64", "AMD64"):
        from cimpl import memory_ordering as mo
        from labs import machine

        pair = machine.cpu_pair()
        for test, (outcome, meaning, _, _) in VERDICTS.items():
            seen = int(mo.litmus(test, ITERATIONS, pair)[outcome])
            figures[test] = seen
            if seen and not table[test]["x86-TSO"]:
                return Verdict(False, f"{test}: you say x86-TSO forbids {meaning}, but this CPU showed it {seen} "
                                      f"times in {ITERATIONS} runs - {WHY[(test, 'x86-TSO')]}", figures=figures)
    # then the models
    for test, (_, meaning, tso, c11) in VERDICTS.items():
        for model, truth in (("x86-TSO", tso), ("C11", c11)):
            if table[test][model] != truth:
                said = "allows" if table[test][model] else "forbids"
                return Verdict(False, f"{test}: you say {model} {said} {meaning}; it does not - "
                                      f"{WHY[(test, model)]}", figures=figures)
    return Verdict(True, f"all {len(VERDICTS)} tests right under both models"
                   + (f"; the CPU agreed in {ITERATIONS} runs each" if figures else ""), figures=figures)


EXERCISE = Exercise(
    lab="memory-ordering",
    id="outcome-table",
    title="Which outcomes do x86-TSO and C11 allow?",
    kind="correctness",
    files=("table.py",),
    check=check,
    guide="labs/04-memory-ordering/README.md#10-exercises",
    start_fails_because="not filled in",
)
