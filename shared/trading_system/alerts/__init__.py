"""Alerts: events users chose, delivered to their URLs, chat channels and e-mail addresses."""
