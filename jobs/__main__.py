"""``python -m jobs``: the same as ``feedgen worker``."""

from feedgen.cli import cli

cli(args=["worker"], prog_name="feedgen")
