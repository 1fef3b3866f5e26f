"""A serverless algorithmic-trading platform: one codebase, an AWS runtime and a local one."""

__version__ = "0.1.0"
