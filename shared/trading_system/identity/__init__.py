"""Identity: API keys and the roles they carry."""
