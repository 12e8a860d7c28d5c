"""Files and folders that are never half-written, and locks for folders a command owns.

Run folders and exports are published whole: their files are built in a hidden staging
folder beside the target and swapped into place with one rename (an atomic exchange on
Linux), so after a crash at any point the target holds the previous version or the new one,
never a mix. Imports nothing of keras.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import os
import pathlib
import shutil
import tempfile

from zoo.errors import ZooError


class BusyError(ZooError):
    """Another zoo command holds the folder's lock."""


def fsync_dir(path) -> None:
    """Make a rename inside `path` durable (a crash after it cannot bring back the old name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path, content: bytes) -> None:
    """Write `content` to a temporary file beside `path`, flush it to disk, rename it into place."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, content: str) -> None:
    atomic_write_bytes(path, content.encode("utf-8"))


def fsync_tree(folder) -> None:
    """Flush every file and folder under `folder` to disk (before it is renamed into place)."""
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(root)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def trash_name(target: pathlib.Path) -> pathlib.Path:
    return target.with_name(f".{target.name}.trash-{os.getpid()}")


def remove_dir(folder: pathlib.Path) -> None:
    """Delete `folder`: first renamed to a trash name (one step), so a crash while deleting
    never leaves a half-deleted folder under a name that means something."""
    if not folder.exists():
        return
    trash = trash_name(folder)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def publish_dir(staging: pathlib.Path, target: pathlib.Path) -> None:
    """Put the folder `staging` at `target` in one step; the previous `target` is deleted after."""
    fsync_tree(staging)
    if not target.exists():
        os.replace(staging, target)
    elif _exchange(staging, target):
        remove_dir(staging)  # it now holds the previous target
    else:  # two renames: a crash between them leaves the previous version in the trash folder
        old = trash_name(target)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def remove_stale(parent: pathlib.Path, prefix: str) -> None:
    """Delete leftovers of killed commands (staging, trash) named `prefix*` in `parent`.
    Call it only while holding the lock of the folder they belong to."""
    for leftover in parent.glob(prefix + "*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def folder_lock(target: pathlib.Path, what: str):
    """Hold an exclusive lock on `target` (a hidden ``.NAME.lock`` file beside it) or raise
    BusyError at once. The kernel drops the lock when the process dies, even by kill -9; the
    file is removed on release, so a command that was refused or failed leaves nothing behind.
    """
    lock_path = target.with_name(f".{target.name}.lock")
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ZooError(f"{target}: cannot create the {what} there ({error.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise BusyError(f"{target}: another zoo command{f' (pid {holder})' if holder else ''} is using "
                            f"this {what}; wait for it to finish") from None
        try:  # the holder before us may have removed the file we opened: lock the one on disk
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


# ---------------------------------------------------------------------------- digests
def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(folder, *, exclude: str | None = None) -> dict:
    """The sha256 of every file under `folder` by relative path, but the file named `exclude`
    (the list that holds these digests)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != exclude}


def digest_problems(folder, listed: dict, *, exclude: str, list_name: str) -> list[str]:
    """What differs between the files under `folder` and the sha256 list `listed`."""
    on_disk = file_digests(folder, exclude=exclude)
    problems = [f"{name}: not listed in {list_name}" for name in sorted(set(on_disk) - set(listed))]
    problems += [f"{name}: listed in {list_name} but missing" for name in sorted(set(listed) - set(on_disk))]
    problems += [f"{name}: sha256 differs from {list_name}" for name in sorted(set(on_disk) & set(listed))
                 if on_disk[name] != listed[name]]
    return problems


# ---------------------------------------------------------------------------- staging and --out
@contextlib.contextmanager
def staging(target: pathlib.Path, kind: str = "staging"):
    """A fresh hidden folder beside `target` to build its new version in, removed when the
    block fails; publish it with :func:`publish_dir` inside the block."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))
    folder.chmod(0o755)  # mkdtemp makes it private; the published folder is readable as any folder
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def check_out_dir(out: pathlib.Path, *, what: str, is_ours, overwrite: bool | None) -> None:
    """`out` may be absent, empty, or an earlier `what` (``is_ours(out)``); an earlier one is
    replaced only with `overwrite` (None: always, as an export replaces the previous export).
    Nothing else is ever replaced."""
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise ZooError(f"--out {out}: expected a folder for the {what}, found a file")
    if not out.exists() or not any(out.iterdir()):
        return
    if not is_ours(out):
        raise ZooError(f"--out {out}: the folder holds files that are not a zoo {what}; "
                       f"choose an absent or empty folder")
    if overwrite is False:
        raise ZooError(f"--out {out}: holds a {what}; pass --overwrite to replace it, or choose another folder")


def make_parent(out: pathlib.Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(f"--out {out}: cannot create its parent folder ({error.strerror})") from None
