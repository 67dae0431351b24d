"""A local directory as the object store: the embedded default, served by any static web server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ...errors import StorageError
from ...tokens import redact
from . import Storage

# Temporary files carry this suffix so list_keys can skip them and keys can never collide with them.
TMP_SUFFIX = ".feedgen-tmp"


class LocalStorage(Storage):
    """Objects are files under ``root``; a key's ``/`` separators become subdirectories.

    Writes go to a temporary file in the target's directory, are fsynced and then renamed over the
    target, so a reader (a web server, a sync job) sees the old file or the new one, never half.

    Content type and cache control are not stored: a plain directory has nowhere to keep them, and
    the web server in front sets them from the ``.ics`` extension and its own configuration.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # Resolved once so a later chdir cannot move the store; no I/O here, see check().
        self.root = Path(root).absolute()

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        target = self._path(key)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # os.open with 0o666 (not mkstemp's 0o600) so the umask decides, as for any new file:
            # the web server serving the directory must be able to read it.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(target.parent)
        except OSError as exc:
            raise _error("put", key, exc) from None

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _error("get", key, exc) from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _error("delete", key, exc) from None

    def list_keys(self) -> Iterator[str]:
        def fail(exc: OSError) -> None:
            # A missing root is an empty store; anything else (permissions) must not look empty,
            # or reconcile would conclude there is nothing to clean up.
            if not isinstance(exc, FileNotFoundError):
                raise StorageError(f"cannot list {self.root}: {exc.strerror}") from None

        for directory, subdirs, files in os.walk(self.root, onerror=fail):
            subdirs.sort()
            relative = PurePosixPath(Path(directory).relative_to(self.root).as_posix())
            for name in sorted(files):
                if not name.endswith(TMP_SUFFIX):
                    yield str(relative / name)

    def check(self) -> None:
        probe = self.root / f".check.{uuid.uuid4().hex}{TMP_SUFFIX}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"local storage directory {self.root} cannot be created or written "
                f"({exc.strerror}); fix its permissions or storage.url"
            ) from None

    def _path(self, key: str) -> Path:
        """Map ``key`` to a path under root, refusing any key that could point outside it."""
        parts = key.split("/")
        # An empty part means a leading "/", "//" or a trailing "/"; "." and ".." could escape root.
        bad_part = any(part in ("", ".", "..") for part in parts)
        if bad_part or "\\" in key or key.endswith(TMP_SUFFIX):
            raise ValueError(f"invalid storage key {redact(key)!r}: must be a relative path")
        return self.root.joinpath(*parts)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable, so a crash cannot bring back a file we recorded as replaced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _error(operation: str, key: str, exc: OSError) -> StorageError:
    # strerror, not str(exc): the latter names the file, and the file name holds the token.
    return StorageError(f"local {operation} of {redact(key)} failed: {exc.strerror or type(exc)}")
