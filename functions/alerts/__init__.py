"""Alerts functions."""
