"""The front door: channel adapters, the conversation engine, the app and the CLI."""
