"""Exceptions and messages shared by both implementations of every lab.

Both `pyimpl` and `cimpl` raise exactly these, with the same words, so a test
written once runs against both and a learner sees the same error from either.
Where Python has a fitting built-in exception we use it: FileNotFoundError for
a missing segment, FileExistsError for a name in use, ValueError for a bad
argument, TimeoutError for a peer that stopped answering.
"""

NAME_RULE = "1-63 characters from A-Z a-z 0-9 _ . - not starting with '.' or '-'"
MAX_PAYLOAD = 1 << 30


class LayoutError(ValueError):
    """A shared-memory segment whose header is not what we expect: not a
    latencylab segment, another layout version, sizes that disagree with the
    file, or a segment of another kind."""


def bad_name(name: object) -> ValueError:
    return ValueError(f"invalid segment name {name!r}: use {NAME_RULE}")


def bad_size(size: object, what: str = "segment size") -> ValueError:
    return ValueError(f"invalid {what} {size!r}: must be 1..{MAX_PAYLOAD} bytes")


def closed(name: str) -> ValueError:
    return ValueError(f"segment {name!r} is closed")


def not_ours(name: str) -> LayoutError:
    return LayoutError(f"segment {name!r} is not a latencylab segment (bad magic) or is not initialised yet")


def bad_version(name: str, found: object = None) -> LayoutError:
    extra = f" (found version {found})" if found is not None else ""
    return LayoutError(f"segment {name!r} has an unsupported layout version{extra}")


def bad_layout(name: str) -> LayoutError:
    return LayoutError(f"segment {name!r} has a header whose sizes disagree with the segment's size")


def bad_kind(name: str, want: object = None, found: object = None) -> LayoutError:
    detail = f": expected kind {want}, found {found}" if want is not None else ""
    return LayoutError(f"segment {name!r} holds another kind of object{detail}")


def stuck_writer(name: str) -> TimeoutError:
    return TimeoutError(
        f"quote in segment {name!r} stayed mid-write past the timeout: its writer died or stalled mid-write"
    )


def peer_timeout(what: str) -> TimeoutError:
    return TimeoutError(f"{what}: the other side did not answer in time")


class PeerDiedError(RuntimeError):
    """The process at the other end of a ring is gone (killed, crashed)."""


def role_taken(what: str) -> RuntimeError:
    return RuntimeError(f"{what}: already attached by a live process (a ring has one producer and one consumer)")


def peer_died(what: str) -> PeerDiedError:
    return PeerDiedError(f"{what} died: its process is gone")


class CorruptionError(RuntimeError):
    """Data arrived damaged: an echo that is not the message sent, a message
    out of its sequence.  Never the caller's mistake (that is a ValueError)."""


def corrupted(what: str) -> CorruptionError:
    return CorruptionError(f"{what}: data corrupted on the way")


def ring_closed(what: str) -> EOFError:
    return EOFError(f"{what}: the producer closed the ring and every message has been read")


# ------------------------------------------------------------ lab 5: the book
class BookError(ValueError):
    """A message the order book cannot apply (an unknown order, a duplicate,
    more shares than remain...).  The book is unchanged."""


class CapacityError(BookError):
    """A fixed capacity of the C book (its order pool, its id map, its
    instruments) is exhausted.  The book is unchanged."""


def unknown_order(ref: int) -> BookError:
    return BookError(f"unknown order ref {ref}")


def duplicate_order(ref: int) -> BookError:
    return BookError(f"duplicate order ref {ref}: already resting")


def overfill(ref: int, shares: int, left: int) -> BookError:
    return BookError(f"{shares} shares exceed the {left} left on order {ref}")


def zero_shares(ref: int) -> BookError:
    return BookError(f"zero shares on order {ref}")


def bad_side(side: object) -> BookError:
    return BookError(f"bad side {side!r}: must be 'B' or 'S'")


def book_full(what: str, capacity: int) -> CapacityError:
    return CapacityError(f"{what} full (capacity {capacity})")


def bad_locate(locate: object) -> BookError:
    return BookError(f"stock locate {locate} out of range 1..65535")
