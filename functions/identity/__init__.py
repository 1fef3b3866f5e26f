"""Platform functions: health, API keys, the authorizer."""
