"""The failure every command explains in one line (exit 3)."""


class CommandError(Exception):
    """A bad argument, an unreadable file, or an answer the command cannot go on with."""
