"""`python -m focuscli`: the same as the `focus` command."""

from focuscli.entry import main

main()
