"""``python -m training <command>``: corpus, train, evaluate, export (see training/cli.py)."""

from training.cli import main

raise SystemExit(main())
