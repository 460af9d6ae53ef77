"""Whose commands a worker would run.

A worker runs whatever its list, its experiment and its state say, as the
user who started it, on every machine. So everything that decides what it
runs or where it writes must be changeable by that user alone: the list
file (symbolic links followed) and every folder on the way to it, an
experiment's experiment.json and queue.json and the script it records
(and the folder it imports from), the state folder and what is in it.
These are checked before anything is written there, and the list and the
journal whenever they are read again.

Refused, with one line naming the file, who can change it and how to fix it:
- a file or folder that belongs to another user (root is trusted: it can
  change anything anyway);
- one that every user can write, or the members of a group that another
  account has (as its primary or a supplementary group, whatever the
  group's name); where the account database cannot be listed (LDAP
  without enumeration), any group but those named in COOPERATE_TRUST_GROUPS
  (comma-separated names: groups whose members you trust);
- one whose POSIX access list (the system.posix_acl_access attribute) or
  NFSv4 access list (system.nfs4_acl) lets another user or such a group
  write it; for the folder that holds what is checked, its default list
  (system.posix_acl_default) too, which decides who may write what is
  created there;
- a folder on the way that such users can write is fine only when it is
  sticky (like /tmp: they cannot replace what is not theirs) and what the
  path takes from it belongs to this user or to root; never for the folder
  a script imports from (check_script: a planted module needs no
  replacing);
- on AFS, where rights come from access lists and not from mode bits, a
  folder whose list (`fs listacl`) gives the write, insert, delete, lock or
  administer right to anyone but this user and system:administrators, or
  whose list cannot be read (no `fs`, or it fails): refused, not guessed.

`--trust-writable` turns all of this off: whoever can change these files can
then make the workers run any command as you.
"""

import errno
import os
import stat

from cooperate.errors import UserError

TRUSTED_UIDS = (0,)
_ADVICE = ("whoever can change it can make your workers run any command as you: %s, or pass "
           "--trust-writable if you trust them")
# groups the user trusts by name, where the account database cannot tell
# who else has them
TRUST_GROUPS_VARIABLE = "COOPERATE_TRUST_GROUPS"
# AFS rights that change what is in a folder: write, insert, delete, lock, administer
_AFS_CHANGE = set("widka")
_AFS_TRUSTED = ("system:administrators",)
_shared = {}


def _user(uid):
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


def _group_name(gid):
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return "gid %d" % gid


def trusted_groups():
    """The group names in COOPERATE_TRUST_GROUPS."""
    return {g.strip() for g in os.environ.get(TRUST_GROUPS_VARIABLE, "").split(",") if g.strip()}


def shared_group(gid):
    """None if no account but this user's has group gid (or the user trusts
    it by name: COOPERATE_TRUST_GROUPS), else (its name, who else has it):
    an account's name, or a phrase when the accounts cannot be listed."""
    if gid not in _shared:
        _shared[gid] = _shared_group(gid)
    return _shared[gid]


def _shared_group(gid):
    import grp
    import pwd

    uid = os.getuid()
    me = _user(uid)
    try:
        group = grp.getgrgid(gid)
    except KeyError:
        return ("gid %d" % gid, "accounts this machine cannot name")
    if group.gr_name in trusted_groups():
        return None
    others = [m for m in group.gr_mem if m != me]
    if others:
        return group.gr_name, others[0]
    accounts = pwd.getpwall()
    others = [p.pw_name for p in accounts if p.pw_gid == gid and p.pw_uid != uid]
    if others:
        return group.gr_name, others[0]
    # a listing that lacks this very account (or group) is not the whole
    # database (LDAP without enumeration): others may have the group too
    if not any(p.pw_uid == uid for p in accounts) or not any(
            g.gr_gid == gid for g in grp.getgrall()):
        return group.gr_name, "accounts the system cannot list"
    return None


def _group_changers(gid, path):
    group = shared_group(gid)
    if group is None:
        return None
    if group[1] == "accounts the system cannot list":
        return ("the members of group %s can write it, and the account database here cannot "
                "be listed to tell who they are" % group[0],
                "chmod g-w %s, or, if only you and people you trust have group %s, set %s=%s"
                % (_show(path), group[0], TRUST_GROUPS_VARIABLE, group[0]))
    return ("the members of group %s (%s, ...) can write it" % group,
            "chmod g-w %s, or give it a group only you are in" % _show(path))


def _changers(path, st, default=False):
    """Who besides this user (and root) can change `path` (a phrase and a
    fix), or None. With `default`, a folder's default access list counts
    too (who may write what is created in it)."""
    if st.st_uid != os.getuid() and st.st_uid not in TRUSTED_UIDS:
        return "it belongs to user %s" % _user(st.st_uid), "chown it or move it to a folder of yours"
    if st.st_mode & stat.S_IWOTH:
        return "every user can write it", "chmod o-w %s" % _show(path)
    acl = read_posix_acl(path, "access")
    if acl is None and st.st_mode & stat.S_IWGRP:
        why = _group_changers(st.st_gid, path)
        if why:
            return why
    for kind in ("access", "default") if default and stat.S_ISDIR(st.st_mode) else ("access",):
        acl = read_posix_acl(path, kind) if kind == "default" else acl
        if acl is not None:
            why = _acl_changers(path, st, acl, kind)
            if why:
                return why
    return _nfs4_changers(path, st)


def _show(path):
    """A path as short as it can be said: from here, if it is below here."""
    try:
        here = os.path.relpath(path)
    except (OSError, ValueError):
        return path
    return path if here.startswith("..") or here == "." else here


def _refuse(path, why):
    changers, fix = why
    raise UserError("%s: %s; %s" % (_show(path), changers, _ADVICE % fix))


# ---------------------------------------------------------------- POSIX ACLs

# the tags of a POSIX access list's entries (linux/posix_acl_xattr.h)
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 1, 2, 4, 8, 16, 32
_ACL_WRITE = 2


def parse_posix_acl(data):
    """[(tag, permissions, id)] from a system.posix_acl_* attribute: a
    little-endian version (2), then 8 bytes an entry. ValueError if it is
    not one."""
    import struct

    if len(data) < 4 or (len(data) - 4) % 8 or struct.unpack_from("<I", data)[0] != 2:
        raise ValueError("not a POSIX access list")
    return [struct.unpack_from("<HHI", data, offset) for offset in range(4, len(data), 8)]


def read_posix_acl(path, kind):
    """The entries of `path`'s POSIX access ("access") or default list, or
    None if it has none (or the filesystem has none)."""
    try:
        data = os.getxattr(path, "system.posix_acl_" + kind, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT,
                           errno.EINVAL):
            return None
        raise UserError("%s: cannot read its access list (%s): check it with `getfacl %s`; %s"
                        % (_show(path), error.strerror, _show(path),
                           _ADVICE % "fix it if others can write it"))
    except AttributeError:
        return None  # no extended attributes on this platform
    try:
        return parse_posix_acl(data)
    except ValueError:
        raise UserError("%s: its access list cannot be read (not in a known format): check "
                        "it with `getfacl %s`; %s" % (_show(path), _show(path),
                                                      _ADVICE % "remove it"))


def _acl_changers(path, st, entries, kind):
    """Who besides this user a POSIX access list lets write: named users
    and groups, the owning group (through the mask), others."""
    mask = next((perm for tag, perm, _ in entries if tag == ACL_MASK), 7)
    uid = os.getuid()
    where = "" if kind == "access" else " what is created in it"
    remove = "setfacl -%s %s" % ("b" if kind == "access" else "k", _show(path))
    for tag, perm, id_ in entries:
        if not perm & _ACL_WRITE:
            continue
        if tag == ACL_OTHER:
            return "its %s list lets every user write%s" % (kind, where), remove
        if tag in (ACL_USER, ACL_GROUP, ACL_GROUP_OBJ) and not mask & _ACL_WRITE:
            continue
        if tag == ACL_USER and id_ != uid and id_ not in TRUSTED_UIDS:
            return ("its %s list lets user %s write%s" % (kind, _user(id_), where),
                    "setfacl -%sx u:%s %s" % ("d" if kind == "default" else "", _user(id_),
                                               _show(path)))
        if tag in (ACL_GROUP, ACL_GROUP_OBJ):
            gid = st.st_gid if tag == ACL_GROUP_OBJ else id_
            group = shared_group(gid)
            if group is not None:
                return ("its %s list lets the members of group %s (%s, ...) write%s"
                        % ((kind,) + group + (where,)),
                        "setfacl -%sm g:%s:r-x %s" % (
                            "d" if kind == "default" else "",
                            "" if tag == ACL_GROUP_OBJ else _group_name(gid), _show(path)))
    return None


# ---------------------------------------------------------------- NFSv4 ACLs

# access-mask bits that change a file or what is in a folder: write data
# (add a file), append (add a folder), delete a child, delete, write the
# list, take ownership
_NFS4_CHANGE = 0x2 | 0x4 | 0x40 | 0x10000 | 0x40000 | 0x80000
_NFS4_ALLOW, _NFS4_DENY = 0, 1
_NFS4_INHERIT_ONLY, _NFS4_GROUP = 0x8, 0x40


def parse_nfs4_acl(data):
    """[(type, flags, mask, who)] from a system.nfs4_acl attribute (XDR: a
    count, then per entry type, flags, access mask and who, a padded
    string). ValueError if it is not one."""
    import struct

    def u32(offset):
        if offset + 4 > len(data):
            raise ValueError("cut short")
        return struct.unpack_from(">I", data, offset)[0]

    count, offset, out = u32(0), 4, []
    for _ in range(count):
        kind, flags, mask, length = u32(offset), u32(offset + 4), u32(offset + 8), u32(offset + 12)
        offset += 16
        if offset + length > len(data):
            raise ValueError("cut short")
        out.append((kind, flags, mask, data[offset:offset + length].decode("utf-8", "replace")))
        offset += (length + 3) & ~3
    return out


def _nfs4_changers(path, st):
    """Who besides this user an NFSv4 access list lets change `path`."""
    try:
        data = os.getxattr(path, "system.nfs4_acl", follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT,
                           errno.EINVAL):
            return None
        return ("its NFSv4 access list cannot be read (%s)" % error.strerror,
                "check it with `nfs4_getfacl %s`" % _show(path))
    except AttributeError:
        return None
    try:
        entries = parse_nfs4_acl(data)
    except ValueError:
        return ("its NFSv4 access list cannot be read (not in a known format)",
                "check it with `nfs4_getfacl %s`" % _show(path))
    me = _user(os.getuid())
    denied = {}
    for kind, flags, mask, who in entries:
        if flags & _NFS4_INHERIT_ONLY:
            continue
        if kind == _NFS4_DENY:
            denied[who] = denied.get(who, 0) | mask
            continue
        change = mask & _NFS4_CHANGE & ~denied.get(who, 0) & ~denied.get("EVERYONE@", 0)
        if kind != _NFS4_ALLOW or not change or who == "OWNER@":
            continue
        name = who.split("@")[0]
        if who == "EVERYONE@":
            phrase = "every user"
        elif who == "GROUP@" or flags & _NFS4_GROUP:
            gid = st.st_gid if who == "GROUP@" else _gid_of(name)
            group = shared_group(gid) if gid is not None else (name, "accounts unknown here")
            if group is None:
                continue
            phrase = "the members of group %s (%s, ...)" % group
        elif name in (me, str(os.getuid())) or name in ("root", "0"):
            continue
        else:
            phrase = "user %s" % name
        return ("its NFSv4 access list lets %s change it" % phrase,
                "take the write rights from %s (nfs4_setfacl -e %s)" % (who, _show(path)))
    return None


def _gid_of(name):
    import grp

    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        return None


# ---------------------------------------------------------------- paths


def check_stat(path, st):
    """Refuse a file (or folder), given its lstat, that someone else could change."""
    if stat.S_ISLNK(st.st_mode):
        raise UserError("%s is a symbolic link where the toolkit keeps a file of its own: "
                        "remove it" % path)
    why = _changers(path, st)
    if why:
        _refuse(path, why)


def _check_folder(folder, child, child_st, last):
    st = os.stat(folder)
    why = _changers(folder, st, default=last)
    if why is None:
        return
    if st.st_uid in TRUSTED_UIDS + (os.getuid(),) and st.st_mode & stat.S_ISVTX and (
            child_st is None or child_st.st_uid in TRUSTED_UIDS + (os.getuid(),)):
        # a sticky folder (/tmp): others cannot replace what is not theirs
        return
    if st.st_mode & stat.S_ISVTX and child_st is not None:
        why = ("%s, and %s belongs to user %s" % (why[0], child, _user(child_st.st_uid)), why[1])
    _refuse(folder, why)


def check_path(path):
    """Refuse `path` if another user could change what it leads to: the file
    itself, a folder on the way, or a symbolic link on the way (followed as
    the kernel follows it). Returns the folders on the way (for AFS)."""
    try:
        return _walk(path)
    except OSError as error:
        raise UserError("%s: cannot tell who can change it: %s" % (
            error.filename or path, error.strerror or error))


def _walk(path):
    parts = [p for p in os.path.abspath(path).split("/") if p]
    current, folders, hops = "/", [], 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        here = os.path.join(current, name)
        try:
            st = os.lstat(here)
        except OSError:
            # not there (yet): whoever can write the folder decides what it will be
            _check_folder(current, here, None, True)
            folders.append(current)
            return folders
        _check_folder(current, here, st, not parts)
        folders.append(current)
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise UserError("%s: too many levels of symbolic links" % path)
            target = os.readlink(here)
            parts[:0] = [p for p in target.split("/") if p]
            if target.startswith("/"):
                current = "/"
            continue
        current = here
    why = _changers(current, os.stat(current), default=True)
    if why:
        _refuse(current, why)
    return folders


def check_paths(paths):
    """check_path for each path, then their folders' AFS access lists."""
    folders = []
    for path in paths:
        folders += [f for f in check_path(path) if f not in folders]
    check_afs(folders)


def check_script(script):
    """check_paths for a script that Python will run, and the folder it
    imports from first (the script's own, as named and as its links lead):
    changeable by this user alone, sticky or not, since a module planted
    beside the script (a liftoff.py) is imported instead of the real one."""
    check_paths([script])
    for folder in dict.fromkeys((os.path.dirname(os.path.abspath(script)),
                                 os.path.dirname(os.path.realpath(script)))):
        check_import_folder(folder, "the folder of the script %s" % _show(script))


def check_import_folder(folder, what):
    """Refuse a folder Python imports from unless this user alone can
    change it (a sticky one is no better: a new file needs no replacing).
    `what` says why it is imported from."""
    why = _changers(folder, os.stat(folder), default=True)
    if why:
        raise UserError("%s (%s): %s, and Python imports from it before anything else: a "
                        "module planted there would run as you; %s" % (
                            _show(folder), what, why[0],
                            _ADVICE % ("keep it in a folder only you can write, or %s" % why[1])))
    check_paths([folder])


def check_state(folder, names):
    """Refuse a state folder (and the folders on the way to it) or one of
    its `names` (files and folders in it) that someone else could change."""
    check_paths([folder])
    for name in names:
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue  # not there (or the state "folder" is not one: said when used)
        check_stat(path, st)


def alone(path):
    """Is `path` (and every folder on the way) changeable by this user
    alone? For paths that are only hints (see run/recent.py): False instead
    of a refusal."""
    try:
        check_paths([path])
    except UserError:
        return False
    return True


# ---------------------------------------------------------------- AFS


def _mounts():
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            data = f.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None
    out = []
    try:
        for line in data.splitlines():
            fields = line.split()
            rest = fields[fields.index("-") + 1:]
            out.append((fields[4], rest[0] if rest else None))
    except (ValueError, IndexError):
        return None
    return out


def on_afs(path, mounts=None):
    """Is `path` on AFS? (Under /afs, or on a mount of type afs.)"""
    real = os.path.realpath(path)
    if real == "/afs" or real.startswith("/afs/"):
        return True
    if mounts is None:
        mounts = _mounts()
    if mounts is None:
        return False
    best, kind = "", None
    for point, k in mounts:
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, k
    return kind in ("afs", "openafs", "auristorfs")


def parse_acls(text):
    """{folder: {name: set of rights}} from `fs listacl` output (negative
    rights taken away)."""
    acls, folder, sign = {}, None, 1
    for line in text.splitlines():
        if line.startswith("Access list for ") and line.rstrip().endswith(" is"):
            folder = line[len("Access list for "):].rstrip()[:-len(" is")]
            acls[folder], sign = {}, 1
        elif line.strip() == "Normal rights:":
            sign = 1
        elif line.strip() == "Negative rights:":
            sign = -1
        elif folder is not None and line.startswith("  ") and len(line.split()) == 2:
            name, rights = line.split()
            entry = acls[folder].setdefault(name, set())
            if sign > 0:
                entry |= set(rights)
            else:
                entry -= set(rights)
    return acls


def check_afs(folders):
    """Refuse folders on AFS whose access list lets anyone but this user (and
    system:administrators) change what is in them, or whose list cannot be
    read (no `fs` command, or it fails or leaves a folder out): rights
    that exist but cannot be read are not taken to be safe."""
    mounts = _mounts()
    folders = [f for f in folders if on_afs(f, mounts)]
    if not folders:
        return
    import shutil

    fs = shutil.which("fs")
    out, said = "", "there is no `fs` command here (the AFS client's tools)"
    if fs is not None:
        import subprocess

        try:
            result = subprocess.run([fs, "listacl"] + folders, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True,
                                    timeout=60)
            out = result.stdout
            said = "`fs listacl` %s" % (
                "said: %s" % " ".join(result.stderr.split())[:200] if result.stderr.strip()
                else "exited with %d" % result.returncode if result.returncode
                else "printed nothing for it")
            if result.returncode:
                out = ""
        except (OSError, subprocess.SubprocessError) as error:
            said = "`fs listacl` could not be run: %s" % error
    acls = parse_acls(out)
    me = _user(os.getuid())
    for folder in folders:
        acl = acls.get(folder)
        if acl is None:
            raise UserError("%s: its AFS access list cannot be read (%s), so who may change it "
                            "is unknown: check it with `fs listacl %s`; %s" % (
                                folder, said, folder,
                                _ADVICE % "make sure only you have the rights widka there"))
        for name, rights in sorted(acl.items()):
            change = rights & _AFS_CHANGE
            if change and name != me and name not in _AFS_TRUSTED:
                raise UserError("%s: its AFS access list gives %s the rights %s; %s" % (
                    folder, name, "".join(r for r in "widka" if r in change),
                    _ADVICE % ("fs setacl %s %s rl" % (folder, name))))
