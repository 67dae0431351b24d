"""``python -m jobs``: the same as ``feedgen worker``."""

from feedgen.cli import cli

# The guard matters: worker processes (spawned) import the main module again.
if __name__ == "__main__":
    cli(args=["worker"], prog_name="feedgen")
