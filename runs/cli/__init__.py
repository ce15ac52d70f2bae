"""runs/cli: the ``bellscope`` command line (typer): one module per command group, the error and interrupt rules
every command follows, and the progress bar.

Commands parse and check their options, call the pipeline, a job or a reader, and print. Heavy libraries are
imported inside the commands that need them, so ``bellscope --help`` and ``runs ls|show`` start at once.
"""
