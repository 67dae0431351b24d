"""The CRM side: the contract's tables, reading them in batches, and change detection.

    tables      the tables (or views) a CRM offers, and the check that they match the contract
    people      users and teams, read as a batch needs them
    activities  the activities of a batch of users, as model values
    index       what feedgen remembers of the CRM's activities (versions, whose feeds show them)
                and bringing it up to date
    subjects    the same for users and teams (fingerprints)
    sweep       what only whole tables show (rows deleted outright, membership), a slice a cycle
    detect      one detection pass: what changed since the last cycle, and which feeds it marks

Reads the CRM, never writes it (DESIGN invariant 6); writes feedgen's own index tables. Imports
the base modules (model, errors, db, tokens) and ``state``; nothing of render, publish or build.
"""
