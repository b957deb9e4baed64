"""One module per CLI subcommand group; each defines `register(subparsers)`."""
