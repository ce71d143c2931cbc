"""Imported only by the server process that forks the `--jobs` workers: it loads what they need, once.

``multiprocessing``'s ``forkserver`` imports this module once, when it starts (its preload
list): the import loads what every worker needs (:func:`cocm_rules.parallel.warm`), so each
worker process forked from it starts with the library imported and the bundled definitions
read, instead of importing and reading them itself. Nothing else imports this module.
"""

from __future__ import annotations

from .parallel import warm

warm()
