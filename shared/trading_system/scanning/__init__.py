"""Scanning: scanners whose rules run over the whole universe's snapshot in one query."""
