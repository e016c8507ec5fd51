"""`python -m zipfit_cli`: the same as the `zipfit` command."""

from .cli.app import main

if __name__ == "__main__":
    main()
