"""Strategies functions."""
