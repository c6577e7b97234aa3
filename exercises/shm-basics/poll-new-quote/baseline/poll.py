"""Lab 1 exercise: poll for a new quote, cheaply (see README.md).

A strategy waits for the next quote in a loop: `poll(last)` is called again
and again, and most calls find nothing new.  make_poller(q) gets the quote
channel (a pyimpl.shm_basics.SharedQuote that a writer in another process
publishes into) and returns that `poll` function:

    poll(last) -> (seq, Quote) | None

the latest quote with its sequence number if it was published after the one
of sequence number `last`, else None, at once (never wait for a writer that
may not write again).  A quote it returns must be whole: one write's fields,
published under the seq it returns.

This version is correct, and pays for a whole seqlock read (copy the fields,
build a Quote, check seq) on every call, also when nothing changed.  Make
the calls that find nothing new cheap.  You may use anything of `q`,
including its private views (`q._seq`: the sequence word as a 1-item 'Q'
memoryview; q.read_with_seq: the lab's reader).
"""


def make_poller(q):
    read = q.read_with_seq

    def poll(last):
        seq, quote = read()
        return None if seq == last else (seq, quote)

    return poll
