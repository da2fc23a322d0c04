"""``python -m segmint`` runs the command line."""

from segmint.cli.main import app

app(prog_name="segmint")
