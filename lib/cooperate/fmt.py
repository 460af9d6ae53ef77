"""Presentation helpers shared by the commands (strings only, no printing)."""

import time


def duration(seconds):
    if seconds < 10:
        return "%.1fs" % seconds
    seconds = int(round(seconds))
    if seconds < 60:
        return "%ds" % seconds
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return "%dh%02dm" % (hours, minutes)
    return "%dd%02dh" % divmod(hours, 24)


def exit_text(code):
    """`exit 1`, or `killed by SIGKILL` for a negative (signal) code."""
    if code is None:
        return "no exit code"
    if code < 0:
        import signal

        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit %d" % code


def count(n, singular, plural=None):
    """`1 entry`, `2 entries`, `0 runs`."""
    return "%d %s" % (n, singular if n == 1 else plural or singular + "s")


def clock(t=None):
    return time.strftime("%H:%M:%S", time.localtime(t))


def shorten(text, width):
    return text if len(text) <= width else text[:width - 3] + "..."


def printable(text):
    """`text` with control characters (and other characters a terminal does
    not print, such as a right-to-left override) escaped as Python writes
    them (\\n, \\x1b, \\u202e): a name from a list cannot move the cursor,
    clear the screen or hide a part of the line it is printed in."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c):
    escaped = repr(c)[1:-1]
    # repr leaves some unprintable characters as they are (none in practice)
    return escaped if escaped != c else "\\u%04x" % ord(c)


def quote_command(argv):
    """An argv entry as one line that a shell would split back into exactly
    these words (shlex.join, which Python 3.6 and 3.7 lack); a word with a
    character that does not print (a tab, a newline) is written $'...'.
    For display only: entries are never run through a shell. Every command
    shows commands so: the worker's lines, status, report, collect, doe."""
    return " ".join(quote_word(word) for word in argv)


def quote_word(word):
    if word.isprintable():
        import shlex

        return shlex.quote(word)
    return "$'%s'" % "".join(_escape_quoted(char) for char in word)


ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_quoted(char):
    if char in ESCAPES:
        return ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    return "\\x%02x" % code if code < 0x80 else "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code
