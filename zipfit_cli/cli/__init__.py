"""The `zipfit` command: option declarations (one table), their checks, the Typer app, the
terminal display and exit codes. A thin shell over `runs`.

Layering (checked by `make lint`, import-linter): May import every other layer; nothing imports it.
"""
