"""Lab 4 exercise: the outcome table (see README.md).

For each litmus test, say whether its interesting outcome is allowed by the
x86-TSO model of the hardware and by the C11 memory model of the language.
Replace every None by True (allowed) or False (forbidden).  The tests are in
labs/04-memory-ordering/README.md, sections 2 and 4.
"""

ALLOWED = {
    # test:                 x86-TSO allows it?   C11 allows it?
    "SB:relaxed":          {"x86-TSO": None, "C11": None},  # r0=0, r1=0: both loads miss the other store
    "SB:fence":            {"x86-TSO": None, "C11": None},  # the same, a seq_cst fence between store and load
    "SB:seq_cst":          {"x86-TSO": None, "C11": None},  # the same, seq_cst store and load
    "MP:relaxed":          {"x86-TSO": None, "C11": None},  # flag=1, data=0: the flag arrives before the data
    "MP:release_acquire":  {"x86-TSO": None, "C11": None},  # the same, release store and acquire load of the flag
    "LB:relaxed":          {"x86-TSO": None, "C11": None},  # r0=1, r1=1: each load sees the other's later store
    "2+2W:relaxed":        {"x86-TSO": None, "C11": None},  # finally x=1, y=1: both second stores lost
}
