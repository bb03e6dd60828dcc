"""``python -m cytoplan.cli``."""

from cytoplan.cli import main

main()
