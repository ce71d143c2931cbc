"""``python -m cocm_rules.cdshooks [--host] [--port] [--config] [--insecure-dev]``."""

import sys

from . import main_serve

sys.exit(main_serve())
