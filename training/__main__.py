"""``python -m training CMD``: every training command, production and studies (see
training/cli.py; ``python -m training --help`` lists them)."""

from training.cli import main

raise SystemExit(main())
