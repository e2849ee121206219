"""`python -m lvd` runs the command line."""

from lvd.cli import main

raise SystemExit(main())
