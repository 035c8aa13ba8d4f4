"""The data stage: read a user's file, detect its task, clean it, split it into train/val/test.

``load.read_records`` reads a file into raw records, ``tasks.to_examples`` turns them into
``examples.Example``s, ``preprocess`` and ``dedupe`` clean them, and ``split.make_splits`` does
all of it for the configured files (no held-out example left in train). ``augment`` adds training
examples, ``cache.encode_cached`` tokenizes once per content, and ``prepare`` writes it all out
(``tunesmith data prepare``). Import those modules directly; this package imports nothing so that
``import tunesmith.data`` stays cheap.
"""
