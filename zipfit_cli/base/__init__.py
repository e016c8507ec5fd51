"""Foundations every layer may use: errors and exit codes, argument checks, typed results,
run counters, the version.

Layering (checked by `make lint`, import-linter): May import nothing else from zipfit_cli.
"""
