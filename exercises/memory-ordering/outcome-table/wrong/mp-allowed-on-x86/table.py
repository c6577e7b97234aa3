"""Lab 4 exercise: the outcome table - a known-wrong answer."""

ALLOWED = {
    # only store->load reordering is visible on x86 (the store buffer); a locked
    # instruction or MFENCE drains it.  C11: relaxed allows each of these;
    # release/acquire forbids MP's; seq_cst forbids SB's.
    "SB:relaxed":          {"x86-TSO": True,  "C11": True},
    "SB:fence":            {"x86-TSO": False, "C11": False},
    "SB:seq_cst":          {"x86-TSO": False, "C11": False},
    "MP:relaxed":          {"x86-TSO": True,  "C11": True},
    "MP:release_acquire":  {"x86-TSO": False, "C11": False},
    "LB:relaxed":          {"x86-TSO": False, "C11": True},
    "2+2W:relaxed":        {"x86-TSO": False, "C11": True},
}
