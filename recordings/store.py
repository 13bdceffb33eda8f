"""The recordings store: content-addressed files under ``RECORDINGS_DIR``, named by SHA-256.

``objects/ab/<64 hex>`` holds the audio whose SHA-256 (of the plain audio) is that name.
A file is written to ``tmp/``, fsync'd, then renamed into place, so a crash leaves at most
an orphan in ``tmp/`` and never half a recording under its name. Nothing a user sends
becomes a path here: names are checked to be 64 lower-case hex digits.

With encryption on, a file is ``CCRE1\\n`` + a 12-byte nonce, then the audio in 64 KiB
chunks, each sealed with AES-GCM (its own nonce from a counter; the chunk's index and
whether it is the last in the associated data, so chunks cannot be reordered, swapped
between files or cut off unnoticed). A byte range is served by opening only its chunks.

The store's root carries a marker file: a directory without it (unmounted, wrong path)
is never taken for an empty store, so a sweep never calls every recording missing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recordings.exceptions import StoreFull, StoreUnavailable

MARKER = ".callcenter-recordings"
MAGIC = b"CCRE1\n"
CHUNK = 64 * 1024
TAG = 16
HEADER = len(MAGIC) + 12
_HEX = re.compile(r"^[0-9a-f]{64}$")

Writer = Callable[[BinaryIO, bytes], None]


def _write(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)


def derive_key(secret: bytes) -> bytes:
    """The audio key, derived from the product's secret key (HKDF-SHA256)."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"callcenter recordings at rest").derive(secret)


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size: int  # of the plain audio
    encrypted: bool


class RecordingStore:
    """Files by SHA-256; ``writer`` is the write boundary (tests inject a full disk there)."""

    def __init__(self, root: Path, key: bytes | None = None, *, writer: Writer = _write) -> None:
        self.root = root
        self._aead = AESGCM(key) if key is not None else None
        self._writer = writer

    @property
    def encrypts(self) -> bool:
        return self._aead is not None

    def create(self) -> None:
        """Make the store's folders and marker (at start; an existing store is kept)."""
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        (self.root / MARKER).touch(exist_ok=True)

    def check(self) -> None:
        """:class:`StoreUnavailable` unless the root is there and is the store."""
        if not (self.root / MARKER).is_file():
            raise StoreUnavailable("the recordings store is not there (unmounted or moved?)",
                                   {"root": str(self.root)})

    def path_of(self, sha256: str) -> Path:
        if not _HEX.match(sha256):
            raise ValueError(f"not a SHA-256 name: {sha256!r}")
        return self.root / "objects" / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    # -- writing --------------------------------------------------------------------------

    def put(self, source: BinaryIO) -> StoredObject:
        """Copy ``source`` into the store; its name is the SHA-256 of what was read."""
        self.check()
        digest = hashlib.sha256()
        fd, tmp_name = _temp(self.root / "tmp")
        tmp = Path(tmp_name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                nonce = os.urandom(12) if self._aead is not None else b""
                if self._aead is not None:
                    self._writer(out, MAGIC + nonce)
                index = 0
                block = source.read(CHUNK)
                while block:
                    following = source.read(CHUNK)
                    digest.update(block)
                    size += len(block)
                    self._writer(out, self._seal(nonce, index, block, last=not following))
                    block, index = following, index + 1
                if self._aead is not None and size == 0:
                    self._writer(out, self._seal(nonce, 0, b"", last=True))
                out.flush()
                os.fsync(out.fileno())
            name = digest.hexdigest()
            final = self.path_of(name)
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                tmp.unlink()  # the same audio is already stored
            else:
                os.replace(tmp, final)
                _fsync_dir(final.parent)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull("no space left in the recordings store",
                                {"root": str(self.root)}) from err
            raise
        return StoredObject(name, size, self._aead is not None)

    def _seal(self, nonce: bytes, index: int, block: bytes, *, last: bool) -> bytes:
        if self._aead is None:
            return block
        return self._aead.encrypt(_nonce(nonce, index), block, _aad(index, last))

    # -- reading --------------------------------------------------------------------------

    def plain_size(self, sha256: str, encrypted: bool) -> int:
        stored = self.path_of(sha256).stat().st_size
        if not encrypted:
            return stored
        body = stored - HEADER
        full, rest = divmod(body, CHUNK + TAG)
        return full * CHUNK + max(0, rest - TAG)

    def read_range(self, sha256: str, encrypted: bool, start: int, end: int) -> Iterator[bytes]:
        """The plain bytes ``start..end`` (inclusive), in pieces of at most 64 KiB."""
        path = self.path_of(sha256)
        with path.open("rb") as fh:
            if not encrypted:
                fh.seek(start)
                left = end - start + 1
                while left > 0:
                    piece = fh.read(min(CHUNK, left))
                    if not piece:
                        raise OSError(errno.EIO, f"{path.name} is shorter than it was")
                    left -= len(piece)
                    yield piece
                return
            yield from self._decrypt_range(fh, sha256, start, end)

    def _decrypt_range(self, fh: BinaryIO, sha256: str, start: int, end: int) -> Iterator[bytes]:
        if self._aead is None:
            raise StoreUnavailable("this recording is encrypted and no key is configured",
                                   {"sha256": sha256})
        head = fh.read(HEADER)
        if head[: len(MAGIC)] != MAGIC:
            raise OSError(errno.EIO, "not an encrypted recording")
        nonce = head[len(MAGIC):]
        total = self.plain_size(sha256, True)
        first, last = start // CHUNK, end // CHUNK
        fh.seek(HEADER + first * (CHUNK + TAG))
        for index in range(first, last + 1):
            sealed = fh.read(CHUNK + TAG)
            is_last = (index + 1) * CHUNK >= total
            block = self._aead.decrypt(_nonce(nonce, index), sealed, _aad(index, is_last))
            lo = start - index * CHUNK if index == first else 0
            hi = end - index * CHUNK + 1 if index == last else len(block)
            yield block[lo:hi]

    def rehash(self, sha256: str, encrypted: bool) -> str:
        """The SHA-256 of the stored audio as it reads now (``verify``)."""
        digest = hashlib.sha256()
        size = self.plain_size(sha256, encrypted)
        if size:
            for piece in self.read_range(sha256, encrypted, 0, size - 1):
                digest.update(piece)
        return digest.hexdigest()

    # -- removing and listing --------------------------------------------------------------

    def delete(self, sha256: str) -> int:
        """Remove a file; its size (0 when it was already gone). The store must be there."""
        self.check()
        path = self.path_of(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            self.check()  # gone with the store itself: not "already deleted"
            return 0
        return size

    def folders(self) -> list[Path]:
        """The fan-out folders of ``objects/`` (at most 256)."""
        self.check()
        return sorted(p for p in (self.root / "objects").iterdir() if p.is_dir())

    def objects_in(self, folder: Path) -> list[tuple[str, int, float]]:
        """The files of one folder: (sha256, size, mtime)."""
        found = []
        for entry in os.scandir(folder):
            if _HEX.match(entry.name):
                info = entry.stat()
                found.append((entry.name, info.st_size, info.st_mtime))
        return found

    def stale_temporaries(self, older_than: float) -> Iterator[Path]:
        """Half-written files a crash left in ``tmp/``."""
        for entry in os.scandir(self.root / "tmp"):
            if entry.stat().st_mtime < older_than:
                yield Path(entry.path)


def _temp(folder: Path) -> tuple[int, str]:
    name = folder / f"{os.getpid()}-{os.urandom(8).hex()}.part"
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(name)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _nonce(base: bytes, index: int) -> bytes:
    return base[:8] + struct.pack(">I", index)


def _aad(index: int, last: bool) -> bytes:
    return struct.pack(">I?", index, last)
