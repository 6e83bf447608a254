"""The one error type library code raises.

Owns: `SeqgenError`, whose message is a complete one-line sentence for the user (what was wrong,
which file, what to do). The CLI turns it into that line and exit code 1; nothing else in the
library prints or exits.
"""


class SeqgenError(Exception):
    """A user-facing failure: bad input, a missing file, an option that does not apply."""


class WriteError(SeqgenError):
    """A file could not be written (a full disk, no permission): stop, do not skip and go on."""
