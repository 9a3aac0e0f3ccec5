"""The build lock: at most one worker builds a given export at a time.

A PostgreSQL session advisory lock, not a row lock: it is held for the whole build (minutes)
without keeping a transaction open, and PostgreSQL drops it by itself when the holder's
connection ends, so a worker killed mid-build never leaves the export locked. A second delivery
of the same task (a broker redelivery while the first worker is still alive) fails to take it
and backs off. SQLite (the embedded `make run` default, tasks run in-process) has no such locks
and needs none.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

# The first half of the two-part advisory lock key, naming what is locked ("research export
# build"), so that other advisory locks keyed on plain ids never collide with these.
LOCK_NAMESPACE = 0x52_45_58  # "REX"
_INT4_MAX = 2**31 - 1


def _supported() -> bool:
    return connection.vendor == "postgresql"


def _key(export_id: int) -> tuple[int, int]:
    if not 0 < export_id <= _INT4_MAX:
        raise ValueError(f"export id {export_id} does not fit the advisory lock key")
    return LOCK_NAMESPACE, export_id


@contextmanager
def export_build_lock(export_id: int) -> Iterator[bool]:
    """Try to take the build lock; yields whether it was taken, and releases it on the way out."""
    if not _supported():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", _key(export_id))
        taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            _release(export_id)


def _release(export_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", _key(export_id))
    except DatabaseError:
        # The connection broke: PostgreSQL released the lock with the session.
        pass


def export_build_lock_held(export_id: int) -> bool:
    """Whether some live session holds the build lock (read from pg_locks; nothing is taken)."""
    if not _supported():
        return False
    classid, objid = _key(export_id)
    with connection.cursor() as cursor:
        cursor.execute(
            # The two-integer form of the lock appears with objsubid 2.
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = %s AND objid = %s AND objsubid = 2)",
            [classid, objid],
        )
        return cursor.fetchone()[0]
