"""The data stage: read a user's file, detect its task, and split it into train/validation/test.

``load.read_records`` reads a file into raw records, ``tasks.to_examples`` turns them into
``examples.Example``s, and ``split.make_splits`` does both for the configured files. Import those
modules directly; this package imports nothing so that ``import tunesmith.data`` stays cheap.
"""
