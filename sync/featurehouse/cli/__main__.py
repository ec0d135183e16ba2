"""`python -m featurehouse.cli`: the same as the `featurehouse` command."""

from featurehouse.cli import main

main()
