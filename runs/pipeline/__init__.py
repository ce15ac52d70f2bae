"""runs/pipeline: campaigns (dataset -> train -> discover -> certify, reused by configuration hash) and
``reproduce`` (the paper's tables and figures as campaigns).

A campaign is a TOML spec parsed and checked whole before any stage runs (``_spec``); each stage has a hash of what
determines its result and a file named after it (``_hashing``); each stage calls a job runner from ``runs.jobs``
(``_stages.Runners``, passed in as ``run_campaign(..., runners=)`` so tests hand in fakes), or is the certify stage
(``_certify_stage``); the campaign record is one more run file (``_record``). ``_campaign`` runs the stages in order
and re-exports the names the command line and tests use.

Nothing here parses a command line or writes a file format of its own.
"""
