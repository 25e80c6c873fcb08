"""The ``hiprom`` command line: thin typer commands that parse, call the API and print."""
