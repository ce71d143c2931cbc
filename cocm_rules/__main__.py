"""``python -m cocm_rules``: the ``cocm-rules`` command line (see :mod:`cocm_rules.cli`)."""

from .cli import main

if __name__ == "__main__":
    main()
