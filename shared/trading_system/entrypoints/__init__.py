"""How the outside world reaches the application: HTTP, Lambda events, the CLI, the local runner."""
