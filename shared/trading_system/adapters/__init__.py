"""Implementations of the ports: local/ (embedded), aws/ (managed services), lake.py (both)."""
