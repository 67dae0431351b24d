from feedgen.cli import cli

cli(prog_name="feedgen")
