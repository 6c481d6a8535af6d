"""``python -m plant`` is the ``plant`` command."""

from plant.cli import main

raise SystemExit(main())
