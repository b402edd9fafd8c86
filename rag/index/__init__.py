"""The index: build and switch, the Chroma store, the probe that a build can be read."""
