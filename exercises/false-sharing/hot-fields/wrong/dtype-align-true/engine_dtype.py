"""Lab 2 exercise: lay out the engine's shared block - a known-wrong answer:
the C struct is right (the solution's), the dtype is not.  align=True
inserts the padding C would insert between fields for their *natural*
alignment (8 here), not the 128-byte blocks that _Alignas asked for, and it
does not pad the record to 512 (guide section 3, "Two traps"): a Python
monitor would read the strategy's orders_sent where C keeps md_seq's
neighbour, and every field after it from the wrong place."""

import numpy as np

ENGINE = np.dtype([("md_seq", "<u8"), ("md_last_ts_ns", "<u8"), ("orders_sent", "<u8"), ("last_order_ns", "<u8"),
                   ("fills", "<u8"), ("position", "<i8"), ("max_position", "<i8"), ("strategy_id", "<u4"),
                   ("flags", "<u4")], align=True)
