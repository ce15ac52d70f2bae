"""runs/pipeline: campaigns (dataset -> train -> discover -> certify, reused by configuration hash) and
``reproduce`` (the paper's tables and figures as campaigns).

A campaign is a TOML spec parsed and checked whole before any stage runs; each stage calls a job runner from
``runs.jobs`` (passed in, so tests hand in fakes) and the campaign record is one more run file.

Nothing here parses a command line or writes a file format of its own.
"""
