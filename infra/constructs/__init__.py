"""The stack's building blocks, one concern per module; each one reads the catalog itself."""
