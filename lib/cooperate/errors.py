"""The one error type for failures the user can fix.

The library raises UserError with a one-line message saying what is wrong and
where; the command-line edge prints it and exits with its code (2: bad input
or usage). Nothing else in the library prints or exits.
"""


class UserError(Exception):
    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code
