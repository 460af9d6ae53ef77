"""Writing files: so that a crash leaves the old or the new one, never
half; never writable by other users, whatever the umask; never through a
symbolic link or into a file someone else planted.

Two kinds of modes: what users read (an experiment's folders and configs,
collect's and report's outputs: FILE_MODE, FOLDER_MODE, less the umask),
and a queue's state (its folder, lock, journal, snapshots, ids cache,
heartbeats and logs): this user's alone, STATE_FILE_MODE and
STATE_FOLDER_MODE whatever the umask, or, for a queue a team shares on
purpose (--trust-writable in a folder of the team's group), that group's
too and nobody else's (shared_modes)."""

import errno
import os
import stat

from cooperate.errors import UserError

FILE_MODE, FOLDER_MODE = 0o644, 0o755
STATE_FILE_MODE, STATE_FOLDER_MODE = 0o600, 0o700
# a team's queue: the group reads and writes; new files in its folders get
# the folder's group (setgid)
TEAM_FILE_MODE, TEAM_FOLDER_MODE = 0o660, 0o2770


def shared_modes(folder):
    """(file mode, folder mode) for a queue's state made in `folder`: the
    team's modes when the folder is writable by its group (a queue a team
    shares, trusted with --trust-writable), else this user's alone."""
    try:
        group = os.stat(folder).st_mode & stat.S_IWGRP
    except OSError:
        group = 0
    return (TEAM_FILE_MODE, TEAM_FOLDER_MODE) if group else (STATE_FILE_MODE, STATE_FOLDER_MODE)


def _group_write(path, fd, mode):
    """The umask may have taken away the group's rights (and mkdir the
    setgid bit) that a team's mode asks for: give them back."""
    if mode & 0o070:
        st = os.fstat(fd) if fd is not None else os.stat(path)
        want = stat.S_IMODE(st.st_mode) | (mode & (0o070 | stat.S_ISGID))
        if want != stat.S_IMODE(st.st_mode):
            os.fchmod(fd, want) if fd is not None else os.chmod(path, want)


def make_state_folder(path, subs, names, file_mode, folder_mode, check=None):
    """Create the state folder `path` (and its missing parents), the folders
    `subs` in it and the empty files `names`: nothing is made in a folder
    before `check(folder)` (trust.check_path; None: trusted) passed on it,
    as it is then, and what is made in the state folder is made through
    its descriptor (mkdirat, openat) without following a symbolic link, so
    a link planted or swapped meanwhile leads nowhere. An existing state
    folder of this user's is narrowed to `folder_mode` (older ones were
    readable by all); a team's gets the group of the folder it is in.
    OSError (or check's UserError) if something is in the way."""
    parent = os.path.dirname(os.path.normpath(path)) or "."
    if not os.path.isdir(parent):
        make_state_folder(parent, (), (), file_mode, folder_mode, check)
    elif check is not None:
        # the folder it goes in, as the folder holding it (sticky: fine)
        check(path)
    try:
        os.mkdir(path, folder_mode)
    except FileExistsError:
        pass
    fd = _open_checked(path, check)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.getuid():
            if folder_mode & 0o070:
                parent_gid = os.stat(parent).st_gid
                if st.st_gid != parent_gid:
                    try:
                        os.fchown(fd, -1, parent_gid)
                    except OSError:
                        pass  # not a member: the folder keeps this user's group
                _group_write(None, fd, folder_mode)
            elif stat.S_IMODE(st.st_mode) & 0o077:
                try:
                    os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~0o077)
                except OSError:
                    pass  # a read-only filesystem: said below, when it is written
        for sub in subs:
            try:
                os.mkdir(sub, folder_mode, dir_fd=fd)
                made = True
            except FileExistsError:
                made = False
            sub_fd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=fd)
            try:
                if made:
                    _group_write(None, sub_fd, folder_mode)
            finally:
                os.close(sub_fd)
        for name in names:
            try:
                file_fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, file_mode, dir_fd=fd)
            except FileExistsError:
                if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "a symbolic link is there",
                                  os.path.join(path, name))
                continue
            try:
                _group_write(None, file_fd, file_mode)
            finally:
                os.close(file_fd)
    finally:
        os.close(fd)


def _open_checked(path, check):
    """A descriptor of the folder `path` as `check` saw it: what is there is
    looked at (lstat) before the check and again after it, and opened only
    if it is the same thing, so a link planted, removed or swapped around
    the check (another user's, in a sticky folder) is never followed. A
    link of this user's (or root's) is followed: nobody else can change it
    where the check passed."""
    if check is None:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    seen = os.lstat(path)
    check(path)
    again = os.lstat(path)
    if (seen.st_dev, seen.st_ino, seen.st_uid) != (again.st_dev, again.st_ino, again.st_uid):
        raise OSError(errno.EAGAIN, "it was replaced while it was checked (by another user?)",
                      path)
    if stat.S_ISLNK(again.st_mode):
        if again.st_uid not in (os.getuid(), 0):
            raise OSError(errno.EPERM, "a symbolic link of another user's is there", path)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (again.st_dev, again.st_ino):
        os.close(fd)
        raise OSError(errno.EAGAIN, "it was replaced while it was checked (by another user?)",
                      path)
    return fd


def make_folder(path, mode=FOLDER_MODE):
    """Create a folder (and its parents) with `mode` (never more: the umask
    may take rights away); an existing one is left as it is. True if this
    made it."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return False
    except FileNotFoundError:
        make_folder(os.path.dirname(os.path.abspath(path)), mode)
        return make_folder(path, mode)
    _group_write(path, None, mode)
    return True


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
    flags |= os.O_APPEND if append else 0
    try:
        try:
            # made here: a new file of this user's alone, empty (no stat, a
            # round trip on NFS, for each of the runs' logs)
            fd = os.open(path, flags | os.O_EXCL, mode)
            made = True
        except FileExistsError:
            fd, made = os.open(path, flags, mode), False
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link is there: nothing is written through it",
                          path)
        raise
    if not made:
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


def atomic_write(path, data, durable=True, mode=FILE_MODE):
    """Write `data` (bytes, or an iterable of bytes: a large output written
    as it is made) to `path` through a temporary file with a unique name in
    the same folder, renamed over it; with `durable`, fsync'd, and the
    folder too. Created with `mode` (less the umask, unless it is a
    team's). Whatever fails on the way leaves `path` as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".%s.%s.tmp" % (os.path.basename(path), unique()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            _group_write(None, fd, mode)
            for piece in (data,) if isinstance(data, bytes) else data:
                write_all(fd, piece)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as error:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise UserError("cannot write %s: %s" % (path, error.strerror or error))
        raise
    if durable:
        sync_dir(folder)
