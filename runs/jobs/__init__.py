"""runs/jobs: one job per run file: dataset, train (the model file), discover and its active-learning rounds.

Each runner takes a validated configuration and an output path, does the work through the library packages
(``surrogates``, ``discover``, ``certify``) and writes one run file through ``runs.files``. The shipped search
configurations (``runs/searches/*.toml``) and their parser live here too.

Nothing here parses a command line or chains stages: the pipeline and the command line call these runners.
"""
