"""Builds, cycles and reconciles: the flow CRM → render → publish, per batch of feeds.

    builder      the Builder: cycle, reconcile, build, publish one feed now
    batches      claiming a batch of feeds, building, uploading and recording it
    incremental  which claimed feeds are patched from their last bytes instead of built in full
    parallel     runs of several batches on several processes
    cleanup      storage against the feeds: what is missing, what is stray, what is safe to delete
    report       what a run did

The one room that imports the others (crm, render, publish, state); only the feed lifecycle
(``feedgen.lifecycle``), the wiring (``app``), the CLI and the worker import it.
"""

from .builder import Builder

__all__ = ["Builder"]
