"""Output folders owned by one run at a time, and files written whole or not at all.

A run folder (``train --out DIR`` of either command line, ``plot --out DIR``) is used like this:

    with RunFolder(DIR, FILES) as folder:    # takes DIR/.lock; refused while another run holds it
        path = folder.staged("checkpoint.npz")   # everything is written into DIR/.staging-<pid>/
        ...
        folder.commit()                      # only now: the new files replace the old run's

``commit`` moves each staged file into DIR (keeping the permissions of the file it replaces) and
removes the earlier run's files that this run did not write (of FILES, every file such a run writes:
an old ``samples.png`` never lingers beside a new run's figures). Leaving the ``with`` block without a
commit (an error, NaN, Ctrl-C) removes the staging folder: DIR keeps the finished run it held, plus
what the caller chose to ``keep`` (``interrupted.npz``); a DIR this run created and left empty is
removed again.

The lock is ``fcntl.flock`` on DIR/.lock: the kernel drops it when its process dies, so a lock left by
a killed run is no lock at all. The file holds the owner's process id, for the message. Staging
folders and temporary files (``.tmp-<pid>-<hex>``) of dead processes are removed when the next run
takes the lock.

Single files are written the same way, whole or not at all: ``atomic_write`` (a temporary file beside
the target, renamed over it). Ctrl-C or SIGTERM during such a write waits until the file is in place
(``signals_held``): the KeyboardInterrupt then comes between two steps of the run, where the training
loop saves its state, not inside NumPy's zip writer, which would turn it into a ValueError.
"""
import contextlib
import errno
import os
import secrets
import shutil
import signal
import stat
import threading

try:
    import fcntl
except ImportError:  # Windows: an exclusive create stands in, and a lock whose process is gone is removed
    fcntl = None

# The files every training run may write besides its figures (each command line adds its figures' names).
STATE_FILES = frozenset({"checkpoint.npz", "metrics.json", "interrupted.npz", "last-good.npz"})
LOCK_NAME = ".lock"
STAGING_PREFIX = ".staging-"
TEMPORARY_PREFIX = ".tmp-"
DISK_FULL = frozenset(getattr(errno, name) for name in ("ENOSPC", "EFBIG", "EDQUOT") if hasattr(errno, name))
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # the lock file is opened without following a symbolic link


class OutputError(OSError):
    """An output path that cannot be used: a run holds it, or something not a regular file is there."""


def check_output_file(path, option="--out", subject=None):
    """Refuse an existing ``path`` that is not a regular file (a folder, FIFO, device node, socket or
    symbolic link): writing would replace it, and a FIFO or /dev/null is not the user's to replace.
    ``subject`` names the path in the message when it is not ``option``'s own value (a file in a folder)."""
    subject = subject or f"{option} {path}"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as error:
        raise OutputError(f"{subject}: cannot be examined ({error.strerror}); choose another {option}") from None
    if not stat.S_ISREG(mode):
        raise OutputError(f"{subject} exists and is {_kind(mode)}, not a regular file; it is left as it is: "
                          f"choose another {option}")
    return path


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a file")):
        if test(mode):
            return name
    return "not a regular file"


def replace_keeping_mode(source, destination):
    """os.replace(source, destination), the new file taking the permissions of the one it replaces
    (a checkpoint made private with chmod 600 stays private)."""
    check_output_file(destination)
    try:
        os.chmod(source, stat.S_IMODE(os.stat(destination).st_mode))
    except FileNotFoundError:
        pass
    os.replace(source, destination)


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    An existing ``path`` that is not a regular file (a folder, FIFO, device node, link) is refused,
    never replaced; the new file keeps the permissions of the one it replaces. The temporary name
    holds the process id (``.tmp-<pid>-<hex>``), so that the next run can tell a dead process's leftover."""
    def write_to(temporary):
        with open(temporary, "wb") as handle:
            write(handle)
    return atomic_write_named(path, write_to)


@contextlib.contextmanager
def signals_held(signals=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, each of ``signals`` whose handler is Python code (Ctrl-C's KeyboardInterrupt,
    the command lines' SIGTERM) is only noted; after it, the first one noted is raised again, so its
    handler runs once the block is done. In another thread than the main one (where Python handlers
    cannot be changed) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    held = {number: signal.getsignal(number) for number in signals if callable(signal.getsignal(number))}
    for number in held:
        signal.signal(number, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        if noted:
            signal.raise_signal(noted[0])


def atomic_write_named(path, write_to):
    """``atomic_write`` for a writer that wants a file name, not an open file (matplotlib's animation
    writers): ``write_to(temporary path)``, then the rename."""
    check_output_file(path, option="output file")
    directory = os.path.dirname(os.path.abspath(path))
    name = f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{os.path.splitext(path)[1]}"
    temporary = os.path.join(directory, name)
    # os.open with 0o666, not tempfile.mkstemp: the file gets the umask's permissions, not a private 0600.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
    try:
        with signals_held():
            write_to(temporary)
            replace_keeping_mode(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            error.filename = path  # what could not be written: the target, not its temporary (or nothing)
        raise
    return path


def process_alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


def temporary_owner(name):
    """The process id in a temporary or staging name (``.tmp-<pid>-<hex>``, ``.staging-<pid>``), or None."""
    for prefix in (TEMPORARY_PREFIX, STAGING_PREFIX):
        if name.startswith(prefix):
            digits = name[len(prefix):].split("-")[0].split(".")[0]
            return int(digits) if digits.isdigit() else None
    return None


def remove_stale(directory):
    """Remove the temporary files and staging folders in ``directory`` whose process is gone (a
    SIGKILL left them); returns their names."""
    removed = []
    for name in os.listdir(directory):
        owner = temporary_owner(name)
        if owner is None or owner == os.getpid() or process_alive(owner):
            continue
        remove_leftover(os.path.join(directory, name))
        removed.append(name)
    return removed


def remove_leftover(path):
    """Remove a leftover at ``path``: a folder with what it holds (links inside it are removed, never
    followed), anything else (a file, a link, a FIFO) by its own name only; nothing there is no error."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def open_regular(path):
    """``path`` opened for reading as a binary file, if it is a regular file; OutputError naming what it is
    otherwise. A symbolic link is not followed, and a FIFO is not waited on: what a run reads back from
    its folder (metrics.json, a checkpoint's configuration) can be neither a door to another file nor a
    hang. FileNotFoundError when there is nothing."""
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
                             | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise
    except OSError as error:  # a link (ELOOP with O_NOFOLLOW), or no permission
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            raise OutputError(f"{path} is {_kind(mode)}, not a regular file") from None
        raise OutputError(f"{path} cannot be read ({error.strerror})") from None  # a file without read permission
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise OutputError(f"{path} is {_kind(mode)}, not a regular file")
    return os.fdopen(descriptor, "rb")


def read_regular(path, limit):
    """The bytes of the regular file ``path`` (open_regular's refusals), at most ``limit`` of them:
    OutputError for a longer file, read no further."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OutputError(f"{path} is over {limit:,} bytes, more than such a file ever holds")
    return data


class RunFolder:
    """The output folder of one run: locked while in use, written through a staging folder. ``files``
    names every file such a run writes there (what ``check_targets`` checks and ``commit`` replaces)."""

    def __init__(self, path, files=(), option="--out"):
        self.path, self.files, self.option = os.fspath(path), frozenset(files), option
        self.staging = os.path.join(self.path, f"{STAGING_PREFIX}{os.getpid()}")
        self._lock = None
        self.committed = False

    # --- the lock -------------------------------------------------------------------------------
    def __enter__(self):
        self.created = not os.path.lexists(self.path)
        if not self.created and not os.path.isdir(self.path):  # makedirs would say only "File exists"
            raise OutputError(f"{self.option} {self.path} exists and is {_kind(os.lstat(self.path).st_mode)}, not a "
                              f"folder; it is left as it is: choose another {self.option}")
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{self.option} {self.path} cannot be written ({error.strerror or error}); "
                              f"choose another {self.option}") from None
        self._take_lock()
        try:
            remove_stale(self.path)
            # A staging folder of this process's id can only be a dead run's (a process that had this id before:
            # containers reuse small ids), since we hold the lock: removed like any other leftover.
            remove_leftover(self.staging)
            os.mkdir(self.staging)
        except OSError as error:
            self._release_lock()
            raise OutputError(f"{self.option} {self.path} cannot be written ({error.strerror or error}); "
                              f"choose another {self.option}") from None
        return self

    def __exit__(self, *exc_info):
        with signals_held():  # a Ctrl-C now comes after the cleanup: no staging folder is left half removed
            shutil.rmtree(self.staging, ignore_errors=True)
            self._release_lock()
            if self.created and not self.committed:
                try:
                    os.rmdir(self.path)  # a folder this run made and left empty (it failed early) goes again
                except OSError:
                    pass
        return False

    def _take_lock(self):
        lock_path = os.path.join(self.path, LOCK_NAME)
        for _ in range(10):  # another run may remove the lock file between our open and our lock
            try:
                # O_NOFOLLOW: a .lock that is a link to the user's file is never written through; O_NONBLOCK:
                # opening a FIFO does not wait. Anything but a regular file is refused (_check_lock).
                descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL) | _NOFOLLOW
                                     | getattr(os, "O_NONBLOCK", 0), 0o666)
            except FileExistsError:  # only without fcntl: the file is the lock, so a dead owner's is removed
                self._check_lock(lock_path)
                if self._owner(lock_path) is not None and not process_alive(self._owner(lock_path)):
                    os.unlink(lock_path)
                    continue
                self._refuse(lock_path)
            except OSError as error:
                self._check_lock(lock_path)
                raise OutputError(f"{self.option} {self.path} cannot be written ({error.strerror or error}); "
                                  f"choose another {self.option}") from None
            try:
                status = os.fstat(descriptor)
                self._check_lock(lock_path, status.st_mode)
                if status.st_nlink > 1:  # a hard link to another file: the pid written below would land in that one
                    raise OutputError(f"{self.option} {self.path}: its lock file {lock_path} has {status.st_nlink} "
                                      "names (a hard link to another file), so it is not only the lock; it is left as "
                                      f"it is: remove it, or choose another {self.option}")
            except OutputError:
                os.close(descriptor)
                raise
            if fcntl is not None:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(descriptor)
                    self._refuse(lock_path)
                try:
                    same = os.path.samestat(os.fstat(descriptor), os.stat(lock_path))
                except FileNotFoundError:
                    same = False
                if not same:  # we locked a lock file its owner had just removed: try the current one
                    os.close(descriptor)
                    continue
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
            self._lock = (descriptor, lock_path)
            return
        raise OutputError(f"{self.option} {self.path}: its lock keeps changing hands; try again")

    def _check_lock(self, lock_path, mode=None):
        """Refuse a lock path that is not a regular file (a symbolic link, a FIFO, a folder): it is not ours
        to write, and is left as it is."""
        if mode is None:
            try:
                mode = os.lstat(lock_path).st_mode
            except OSError:
                return
        if not stat.S_ISREG(mode):
            raise OutputError(f"{self.option} {self.path}: its lock file {lock_path} is {_kind(mode)}, not a regular "
                              f"file; it is left as it is: remove it, or choose another {self.option}")

    @staticmethod
    def _owner(lock_path):
        try:
            descriptor = os.open(lock_path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return None
            return int(os.read(descriptor, 64).decode().strip())
        except (OSError, ValueError):
            return None
        finally:
            os.close(descriptor)

    def _refuse(self, lock_path):
        pid = self._owner(lock_path)
        owner = "another process" if pid is None else f"process {pid}"
        raise OutputError(f"{self.option} {self.path} is in use by another run ({owner}); wait for it to finish, "
                          f"or choose another {self.option}")

    def _release_lock(self):
        if self._lock is None:
            return
        descriptor, lock_path = self._lock
        self._lock = None
        try:
            os.unlink(lock_path)  # while still holding it: a run waiting on this file will see it is gone
        except OSError:
            pass
        os.close(descriptor)

    # --- staging and committing ------------------------------------------------------------------
    def staged(self, name):
        """Where this run writes its file ``name`` until the commit."""
        return os.path.join(self.staging, name)

    def final(self, name):
        return os.path.join(self.path, name)

    def check_targets(self, names=None):
        """Refuse now, before any work, a folder, FIFO or link where a run file (of ``names``, else
        of the folder's ``files``) will go."""
        for name in self.files if names is None else names:
            check_output_file(self.final(name), self.option, f"{self.option} {self.path}: the file {self.final(name)}")

    def keep(self, name, target=None):
        """Move one staged file into the folder now (what an unfinished run leaves: interrupted.npz)."""
        destination = self.final(target or name)
        replace_keeping_mode(self.staged(name), destination)
        return destination

    def commit(self):
        """The new run's files replace the old run's: each staged file is renamed into the folder,
        then the folder's ``files`` that this run did not write are removed (``plot``'s folder names
        only figures). Returns the new files' paths."""
        written = sorted(os.listdir(self.staging))
        self.check_targets(sorted(self.files | set(written)))  # what it replaces and what it removes
        # The checkpoint last: a commit cut short by SIGKILL leaves the old checkpoint beside some new files
        # rather than a new checkpoint that metrics.json does not describe.
        written.sort(key=lambda name: name == "checkpoint.npz")
        paths = []
        for name in written:
            replace_keeping_mode(self.staged(name), self.final(name))
            paths.append(self.final(name))
        for name in self.files - set(written):
            try:
                os.unlink(self.final(name))
            except FileNotFoundError:
                pass
        self.committed = True
        return paths
