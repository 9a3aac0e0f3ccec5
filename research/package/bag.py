"""The BagIt bag and its zip, both without wall-clock values.

bagit writes a Bagging-Date; it is removed (the field is optional in RFC 8493) so that the same data
gives the same bag. The zip's entries carry a fixed timestamp and are sorted, so the zip is
reproducible too. Text compresses well at a fast level; Parquet and PNG are already compressed
and are stored.
"""

import datetime
import os
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
STORED_SUFFIXES = (".parquet", ".png")


def make_bag(directory: Path, export_name: str) -> None:
    import bagit

    bagit.make_bag(
        str(directory),
        bag_info={"External-Identifier": export_name, "External-Description": "GNE myopathy registry research export"},
        checksums=["sha256"],
    )
    bag = bagit.Bag(str(directory))
    del bag.info["Bagging-Date"]
    bag.save()


def _files(directory: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [os.path.relpath(os.path.join(root, name), directory) for name in sorted(files)]
    return sorted(found)


def zip_directory(directory: Path, target: Path) -> None:
    """Zip the bag: sorted entries, every file's time set to FIXED_TIME first (zip keeps file times)."""
    fixed = datetime.datetime(*FIXED_TIME).timestamp()
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for relative in _files(directory):
            path = directory / relative
            os.utime(path, (fixed, fixed))
            stored = relative.endswith(STORED_SUFFIXES)
            archive.write(
                path,
                relative.replace(os.sep, "/"),
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                compresslevel=None if stored else 1,
            )
