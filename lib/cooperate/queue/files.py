"""Writing files: so that a crash leaves the old or the new one, never
half; never writable by other users, whatever the umask; never through a
symbolic link or into a file someone else planted."""

import errno
import os
import stat

from cooperate.errors import UserError

# what the toolkit creates; in a folder a team shares on purpose (see
# shared_modes) the group may write too
FILE_MODE, FOLDER_MODE = 0o644, 0o755


def shared_modes(folder):
    """(file mode, folder mode) for what is created in `folder`: writable by
    its group too when the folder itself is (a queue a team shares, trusted
    with --trust-writable)."""
    try:
        group = os.stat(folder).st_mode & stat.S_IWGRP
    except OSError:
        group = 0
    return (FILE_MODE | group, FOLDER_MODE | group) if group else (FILE_MODE, FOLDER_MODE)


def _group_write(path, fd, mode):
    """The umask may have taken away the group's write right that a shared
    mode asks for: give it back."""
    if mode & stat.S_IWGRP:
        st = os.fstat(fd) if fd is not None else os.stat(path)
        if not st.st_mode & stat.S_IWGRP:
            new = stat.S_IMODE(st.st_mode) | stat.S_IWGRP
            os.fchmod(fd, new) if fd is not None else os.chmod(path, new)


def make_folder(path, mode=FOLDER_MODE):
    """Create a folder (and its parents) with `mode` (never more: the umask
    may take rights away); an existing one is left as it is."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    except FileNotFoundError:
        make_folder(os.path.dirname(os.path.abspath(path)), mode)
        return make_folder(path, mode)
    _group_write(path, None, mode)


def create(path, mode=FILE_MODE):
    """Create an empty file with `mode` (never more: the umask may take
    rights away) unless something is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except FileExistsError:
        return
    try:
        _group_write(path, fd, mode)
    finally:
        os.close(fd)


def open_own(path, mode=FILE_MODE, append=False):
    """A descriptor to write `path`, a file of this user's alone: created if
    missing (with `mode`), emptied unless `append`. An existing symbolic
    link, a file of another user's or one with other hard links is an
    OSError: nothing is written through it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_APPEND if append else 0), mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link is there: nothing is written through it",
                          path)
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, "not a file of yours alone (another user's, or with other "
                      "links): nothing is written to it", path)
    if st.st_size and not append:
        os.ftruncate(fd, 0)
    _group_write(path, fd, mode)
    return fd


def unique():
    """A suffix no other process writing the same folder uses at once, even
    on another machine with the same pid (containers)."""
    return "%d-%s" % (os.getpid(), os.urandom(6).hex())


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def sync_dir(path):
    """fsync a folder, so that a rename in it survives a crash (best effort:
    not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def atomic_write(path, data, durable=True):
    """Write `data` (bytes) to `path` through a temporary file with a unique
    name in the same folder, renamed over it; with `durable`, fsync'd, and
    the folder too."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".%s.%s.tmp" % (os.path.basename(path), unique()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UserError("cannot write %s: %s" % (path, error.strerror or error))
    if durable:
        sync_dir(folder)
