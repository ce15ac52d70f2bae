"""runs/files: the run-file format and everything that reads or draws a file.

Holds the layout contract (names of groups, data sets and attributes, status codes), the writer's store (create,
append and flush, mark complete or failed, provenance), what a stopped run's file says (the failure reason, a
file marked failed when its writer could not), the one read-only opener and its checks (regular files,
no links, sizes before reading, ``rows_complete``), the interchange readers (``.npy``, ``.json``, ``.h5``),
browsing (``runs ls|show``), export and plots, and the rule for printing a file's strings.

Nothing here runs a computation or knows a command line: jobs and the pipeline write through it, the command
line reads through it.
"""
