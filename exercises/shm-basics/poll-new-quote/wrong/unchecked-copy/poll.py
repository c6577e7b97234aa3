"""Lab 1 exercise: poll for a new quote - a known-wrong answer: fast, and
torn.  It sees seq move and copies the fields straight away, with no
seqlock around the copy: a write that starts during the copy (or was in
progress: seq odd) hands back fields of two different writes, under a seq
that belongs to neither.  Skipping the read when nothing changed is the
speed-up; skipping the protocol when something did is the bug."""

from pyimpl.shm_basics import unpack_quote


def make_poller(q):
    seq, buf = q._seq, q._buf

    def poll(last):
        s = seq[0]
        if s == last:
            return None
        return s, unpack_quote(buf, 8)

    return poll
