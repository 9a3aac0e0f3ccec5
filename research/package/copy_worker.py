"""Write one `COPY (SELECT ...) TO STDOUT` into a file, from a process of its own, in the builder's snapshot.

Started by `research.package.assessment_rows.AssessmentsCopy`, as `python copy_worker.py` (run as a
script, not through the package, and importing psycopg2 and the standard library only, not Django,
so that it starts in a tenth of a second). `run_steps` is shared with the builder's own COPY path.

Why a process and not a thread: psycopg2 hands each row of a COPY to Python and takes the GIL back
for each. Beside a thread running Python (the milestones, the phenopackets, the figure), each row
then waits up to the interpreter's switch interval, and the COPY ran ten times slower
(bench/README.md). In a process of its own it runs beside that work, on the other core.

The conversation, over pipes:
- stdin, one JSON line: {"connect": psycopg2.connect's keywords, "snapshot": the builder's exported
  snapshot, "steps": the statements run first, each [SQL, null] or, for a COPY FROM, [SQL, its CSV
  text], "copy": the COPY TO statement, "path": the file to write}.
- stdout: "in-snapshot" once the transaction has taken the snapshot (the builder may then end its
  own transaction), "done <rows>" once the file is complete.
- stderr: on failure, one JSON line {"error": the exception's class, "message": ...}; exit status 1.
- stdin staying open is the builder saying it still wants the file: when it ends first (the
  builder died, or gave up), the worker exits at once; closing the connection stops the query.
"""

import io
import json
import os
import sys
import threading


def _exit_when_stdin_ends() -> None:
    # The file descriptor, not sys.stdin: a daemon thread blocked in a buffered reader at the
    # interpreter's exit makes it abort.
    while os.read(0, 4096):
        pass
    os._exit(2)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_steps(cursor, steps) -> None:
    """Run each [SQL, None] step, or [SQL, CSV text] for a COPY FROM (also the builder's own path:
    research.package.assessment_rows)."""
    for statement, rows in steps:
        if rows is None:
            cursor.execute(statement)
        else:
            cursor.copy_expert(statement, io.StringIO(rows))


def copy(spec: dict) -> int:
    """Write the file; returns its number of rows."""
    import psycopg2

    connection = psycopg2.connect(**spec["connect"])
    try:
        connection.set_session(isolation_level="REPEATABLE READ")
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [spec["snapshot"]])
            _say("in-snapshot")
            run_steps(cursor, spec["steps"])
            with open(spec["path"], "wb") as out:
                cursor.copy_expert(spec["copy"], out, 1 << 20)
            rows = cursor.rowcount
        connection.rollback()  # nothing was written but a temporary table
    finally:
        connection.close()
    return rows


def main() -> int:
    spec = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_exit_when_stdin_ends, daemon=True).start()
    try:
        rows = copy(spec)
    except Exception as error:  # reported to the builder, which raises it as a database error
        sys.stderr.write(json.dumps({"error": type(error).__name__, "message": str(error)}) + "\n")
        return 1
    _say(f"done {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
