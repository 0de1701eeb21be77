"""`python -m focuscli`: the same as the `focus` command."""

from focuscli.cli import main

main()
