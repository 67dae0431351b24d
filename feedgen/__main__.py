from .cli import cli

# The guard matters: worker processes (spawned) import the main module again.
if __name__ == "__main__":
    cli(prog_name="feedgen")
