"""Fakes of outside services that tests run on loopback (never the internet)."""
