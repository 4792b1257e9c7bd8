"""``python -m vp_log`` is ``vp-log``."""

from vp_log.cli import main

main()
