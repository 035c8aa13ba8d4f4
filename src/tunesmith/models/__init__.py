"""Models: resolve a model spec to a local directory, load it in the right precision."""
