"""Publishing export packages to `storages["exports"]`, whole or not at all.

A reader (the download view, a backup job) must never see half a zip. On a filesystem the file is
copied to a hidden temporary name in the same directory and renamed over the final name
(`os.replace` is atomic within one filesystem); an object store (S3 and the like) makes an object
visible only once fully written. The name depends only on the export id, so a rebuild after a crash
replaces the earlier file instead of adding a second one.
"""

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

CHUNK_SIZE = 1024 * 1024


def exports_storage() -> Storage:
    return storages["exports"]


def package_name(export_id: int) -> str:
    """The one name an export's package has in storage (the builder writes the same name locally)."""
    return f"gne-registry-export-{export_id}.zip"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def package_publish(local_path: Path, name: str) -> None:
    """Put a finished local file into the exports storage under `name`, replacing any earlier one."""
    storage = exports_storage()
    if isinstance(storage, FileSystemStorage):
        _publish_to_filesystem(storage, local_path, name)
    else:
        _publish_to_object_store(storage, local_path, name)


def _publish_to_filesystem(storage: FileSystemStorage, local_path: Path, name: str) -> None:
    target = Path(storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so the rename below never crosses filesystems.
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with local_path.open("rb") as source, temporary.open("wb") as copy:
            shutil.copyfileobj(source, copy, CHUNK_SIZE)
            copy.flush()
            os.fsync(copy.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, so a power cut cannot bring back the old file."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish_to_object_store(storage: Storage, local_path: Path, name: str) -> None:
    # Storage.save would pick a new name beside an existing object; a rebuild must replace it.
    if storage.exists(name):
        storage.delete(name)
    with local_path.open("rb") as handle:
        saved = storage.save(name, File(handle, name=name))
    if saved != name:
        raise OSError(f"the exports storage saved the package as {saved!r} instead of {name!r}")


def package_open(name: str):
    """The published package as a binary file object, read in chunks by the download view."""
    return exports_storage().open(name, "rb")


def package_delete(name: str) -> None:
    """Remove a published package (one refused at the last check must not stay downloadable)."""
    exports_storage().delete(name)
