"""`python -m seqgen` runs the command line."""

from seqgen.cli import main

if __name__ == "__main__":
    main()
