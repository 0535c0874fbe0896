"""`python -m titan_deploy` runs the CLI."""

from titan_deploy.cli.entry import main

if __name__ == "__main__":
    main()
