# The archive's entry point (build.py stores it as __main__.py):
# `python3 cooperate.pyz ...`, or a symlink to it named after a command.
# A few lines: every Python but the one that built the archive compiles it
# at every start, and zipimport compiles what it imports twice. That Python
# reads the archive's own .pyc files (__cache__.Own); any other one runs
# __start__.py, compiled here once, which loads the modules it compiled
# from the user's cache folder.
import sys

ARCHIVE_MAGIC = b""  # the magic number of the archive's own .pyc files (build.py)

if sys.version_info >= (3, 6):
    # an older Python is told which it needs by the package itself
    if sys.modules["_frozen_importlib_external"].MAGIC_NUMBER == ARCHIVE_MAGIC:
        import __cache__

        try:
            __cache__.install_own(__loader__.archive)
        except OSError:
            pass  # zipimport reads them
    else:
        # exec of the text, not compile(), which costs Python 3.6 and 3.7
        # building the types of the syntax tree
        exec(__loader__.get_data("__start__.py"))

from cooperate.cli import main  # noqa: E402

sys.exit(main())
