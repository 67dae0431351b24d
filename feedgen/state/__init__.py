"""feedgen's own tables and what reads and writes them: the only tables feedgen writes.

    tables      feeds, builds, deletions, the CRM index, cursors, workers and runs
    feeds       the feed rows: issue, rotate, revoke, options (on a connection, no storage)
    record      recording a batch's builds
    status      what ``feedgen status`` reports of the feeds and the deletion queue
    liveness    workers' heartbeats and the last runs
    runlock     one worker and one job at a time on a SQLite database
    migrations/ Alembic migrations of these tables

Imports the base modules, and of the CRM only its tables' declarations (``crm.tables``): to
check that a subject exists and to name it.
"""
