"""Scanning functions."""
