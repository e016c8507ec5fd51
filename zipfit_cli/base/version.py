"""zipfit's version, read by the build and by `zipfit --version`."""

__version__ = "0.2.0"
