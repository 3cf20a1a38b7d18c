"""`LocalStore`: a folder as a store. Writes are atomic (temporary file under ``_tmp/``, then ``os.replace`` or a
hard link); conditional writes compare a content hash under an flock; a killed writer's temporary files are judged
by the pid in their name (`clean_tmp`).

Reads are one by one, in the calling thread: a report read from the page cache costs ~25 µs, and every thread
hand-off costs more than that (2,000 files here, CPU per file: a loop 32-48 µs; a pool of 4 threads with a future
per file ~210 µs, with a slice of the keys per thread ~150 µs). Parallel reads come from the task workers, one
process each. A network filesystem's passing errors (ESTALE, EIO, …) are retried by the storage's retry policy
(retry.py). Writes raise the OSError the filesystem gave (a full disk, a permission) unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from tasks.storage import retry
from tasks.storage.base import DEFAULT_MAX_BYTES, TMP_PREFIX, ReadResult, Store
from tasks.storage.errors import ErrorKind, NotFound, StorageError, describe_error, storage_error
from tasks.storage.settings import S3Settings

logger = logging.getLogger(__name__)

_TMP_NAME = re.compile(r"^\.put-(?:(\d+)-)?.*\.tmp$")



class LocalStore(Store):
    """A local folder (plain path or file:// URL) as a store."""

    kind = "local"

    def __init__(self, url: str | os.PathLike[str], *, settings: S3Settings | None = None) -> None:
        super().__init__(url, settings=settings)
        raw = os.fspath(url)
        parts = urlsplit(raw)
        path = parts.path if parts.scheme == "file" else raw
        self.root = os.path.abspath(os.path.expanduser(path))
        self.url = self.root

    # -- keys ----------------------------------------------------------------------------------------------------

    def _local_path(self, key: str) -> str:
        """The file of a key under the root; a key that could leave it ('..', '.', absolute, NUL) is refused."""
        if not key or key.startswith("/") or "\0" in key or any(seg in ("..", ".") for seg in key.split("/")):
            raise ValueError(f"invalid key {key!r}: keys are relative, '/'-separated, without '.' or '..' segments")
        # a listed name (encode_name): doubled backslashes and `\xNN` back to the name os.listdir gave
        return os.path.join(self.root, *self.decode_name(key).split("/"))

    def uri(self, key: str = "") -> str:
        return self._local_path(key) if key else self.root

    def fs_path(self, key: str = "") -> str:
        return self.uri(key)

    # -- clients and readers -------------------------------------------------------------------------------------

    def _make_fs(self) -> Any:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def polars_storage_options(self) -> None:
        return None

    def duckdb_setup_sql(self, name: str = "govreports_s3") -> str:
        return ""

    def duckdb_attach(self, con: Any) -> str:
        return "local"

    # -- listing -------------------------------------------------------------------------------------------------

    def _list(self, prefix: str, problems: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
        """A folder's entries that are not objects one may read are left out, each with its reason in `problems`:
        a symbolic link leaving the root (never followed: a source folder does not reach outside itself), a symbolic
        link loop or one whose target is gone, a folder that cannot be listed, an entry that cannot be looked at. A
        symbolic link to a file inside the root is that file under another name; one to a folder is not walked (its
        files are listed where they are)."""
        if not os.path.isdir(self.root):
            return []
        head, _, _ = prefix.rpartition("/")
        start = os.path.join(self.root, *head.split("/")) if head else self.root
        if not os.path.isdir(start):
            return []
        root_real = os.path.realpath(self.root)
        rows: list[tuple[str, int, str]] = []

        def problem(path: str, reason: str) -> None:
            key = self.encode_name(os.path.relpath(path, self.root).replace(os.sep, "/"))
            if key.startswith(prefix) and problems is not None:
                problems.append((key, reason))
            logger.warning("not listed: %r: %s", key, reason)

        def walk_error(exc: OSError) -> None:
            if isinstance(exc, FileNotFoundError) or exc.filename is None:
                return
            problem(os.fsdecode(exc.filename), f"a folder that cannot be listed: {describe_error(exc)}")

        for dirpath, dirnames, filenames in os.walk(start, onerror=walk_error):
            rel_dir = os.path.relpath(dirpath, self.root)
            base = "" if rel_dir == "." else self.encode_name(rel_dir.replace(os.sep, "/")) + "/"
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                key = base + self.encode_name(name)
                if not key.startswith(prefix):
                    continue
                if key != base + name:
                    logger.warning("a file name that is not valid UTF-8 or holds a backslash is listed as %r", key)
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:  # removed while listing
                    continue
                except OSError as exc:
                    problem(path, f"an entry that cannot be looked at: {describe_error(exc)}")
                    continue
                if stat.S_ISLNK(st.st_mode):
                    target = os.path.realpath(path)
                    if os.path.commonpath([root_real, target]) != root_real:
                        problem(path, "a symbolic link leaving the source folder: not followed")
                        continue
                    try:
                        st = os.stat(path)
                    except OSError as exc:
                        what = "a symbolic link loop" if exc.errno == errno.ELOOP else "a symbolic link whose target is gone"
                        problem(path, f"{what}: not followed")
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        continue  # its files are listed where they are
                if not stat.S_ISREG(st.st_mode):
                    continue
                rows.append((key, st.st_size, f"{st.st_mtime_ns}-{st.st_size}"))
        return rows

    # -- reading -------------------------------------------------------------------------------------------------

    def read_many(self, keys: Sequence[str], *, max_workers: int = 16, max_bytes: int = DEFAULT_MAX_BYTES,
                  attempts: int = 4) -> list[ReadResult]:
        return [self._read_many_one(k, max_bytes, attempts) for k in keys]

    def _read_many_one(self, key: str, max_bytes: int, attempts: int) -> ReadResult:
        try:  # the first try inline: through retry.call it would cost ~4 µs more a file, a tenth of the read
            return key, self._read(key, max_bytes), None
        except OSError as exc:
            if not retry.retry_local(exc):
                return key, None, _read_error(exc, key)
            first = exc
        except ValueError as exc:
            return key, None, _read_error(exc, key)
        try:
            return key, retry.again(first, lambda: self._read(key, max_bytes), retry.retry_local, attempts), None
        except (OSError, ValueError) as exc:
            return key, None, _read_error(exc, key)

    def _read(self, key: str, max_bytes: int | None = None) -> bytes:
        with open(self._local_path(key), "rb") as fh:
            if max_bytes is not None:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    raise StorageError(f"too_large: {size} bytes > {max_bytes}", ErrorKind.TOO_LARGE)
            return fh.read()

    def _read_or_raise(self, key: str) -> bytes:
        """The bytes; NotFound when absent, any other failure as a typed StorageError (after the retry policy)."""
        try:
            return retry.call(lambda: self._read(key), retry.retry_local)
        except FileNotFoundError:
            raise NotFound(f"not_found: {self.uri(key)}") from None
        except OSError as exc:
            raise storage_error(exc, f"get {self.uri(key)}: {describe_error(exc)}") from exc

    def get_bytes(self, key: str) -> bytes:
        return self._read_or_raise(key)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._local_path(key))

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._read_or_raise(key)
        except NotFound:
            return None
        return data, hashlib.sha256(data).hexdigest()

    # -- writing -------------------------------------------------------------------------------------------------

    def _tmp_file(self) -> tuple[int, str]:
        tmp_dir = os.path.join(self.root, TMP_PREFIX)
        os.makedirs(tmp_dir, exist_ok=True)
        # the writer's pid in the name: a process killed between write and rename leaves a file clean_tmp can judge
        return tempfile.mkstemp(dir=tmp_dir, prefix=f".put-{os.getpid()}-", suffix=".tmp")

    def clean_tmp(self, max_age_s: float = 24 * 3600) -> int:
        """Remove temporary files left by killed writers (local stores; S3 writes are single PUTs and leave none):
        those of a process that no longer runs on this machine, and any older than `max_age_s`. Returns how many.
        Lock files (_tmp/locks/) stay. Call it while holding the writer lease."""
        tmp_dir = os.path.join(self.root, TMP_PREFIX)
        try:
            names = os.listdir(tmp_dir)
        except FileNotFoundError:
            return 0
        removed = 0
        now = time.time()
        for name in names:
            m = _TMP_NAME.match(name)
            if not m:
                continue
            path = os.path.join(tmp_dir, name)
            try:
                age = now - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            pid = int(m.group(1)) if m.group(1) else None
            if age > max_age_s or (pid is not None and pid != os.getpid() and not _pid_running(pid)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
        return removed

    def _write_tmp(self, data: bytes) -> str:
        fd, tmp = self._tmp_file()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp

    def put_bytes(self, key: str, data: bytes) -> None:
        """Locally: a temporary file under _tmp/, then os.replace."""
        self.check_key(key)
        dest = self._local_path(key)
        tmp = self._write_tmp(data)
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self, keys: Iterable[str]) -> None:
        parents: set[str] = set()
        for key in dict.fromkeys(keys):
            path = self._local_path(key)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            parents.add(os.path.dirname(path))
        self._prune_empty_dirs(parents)

    def _prune_empty_dirs(self, dirs: Iterable[str]) -> None:
        root = os.path.abspath(self.root)
        for d in sorted(dirs, key=len, reverse=True):
            d = os.path.abspath(d)
            while d.startswith(root + os.sep) and d != root:
                try:
                    os.rmdir(d)
                except OSError:  # not empty (or gone): stop climbing
                    break
                d = os.path.dirname(d)

    # -- conditional writes --------------------------------------------------------------------------------------

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """The bytes go to a temporary file which is then hard-linked to the key (link fails if the name exists), so
        the object appears whole or not at all; where hard links are not supported, os.open with O_CREAT|O_EXCL
        (atomic creation, but a reader may briefly see a partly written file)."""
        self.check_key(key)
        dest = self._local_path(key)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = self._write_tmp(data)
        try:
            os.link(tmp, dest)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        try:  # no hard links here: exclusive create
            fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def put_if_match(self, key: str, data: bytes, version: str) -> bool:
        """Under an flock on a lock file in _tmp/locks/: compare the content hash, then temp file + os.replace."""
        self.check_key(key)
        with self._lock(key):
            current = self.read_versioned(key)
            if current is None or current[1] != version:
                return False
            self.put_bytes(key, data)
            return True

    def delete_if_match(self, key: str, version: str) -> bool:
        """Under the key's flock: compare the content hash, then delete."""
        with self._lock(key):
            current = self.read_versioned(key)
            if current is None or current[1] != version:
                return False
            self.delete([key])
            return True

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        import fcntl

        lock_dir = os.path.join(self.root, TMP_PREFIX, "locks")
        os.makedirs(lock_dir, exist_ok=True)
        name = hashlib.sha1(key.encode("utf-8")).hexdigest() + ".lock"
        fd = os.open(os.path.join(lock_dir, name), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_error(exc: BaseException, key: str) -> StorageError:
    """read_many's error for a key: its text as the failures table has always stored it."""
    if isinstance(exc, StorageError):  # too large
        return exc
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"not_found: {key}")
    if isinstance(exc, IsADirectoryError):
        return NotFound(f"not_found: {key} is a directory")
    return storage_error(exc, describe_error(exc))


def _pid_running(pid: int) -> bool:
    """Is a process with this pid running here (a zombie counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True

