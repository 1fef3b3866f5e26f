"""How the Lambda dependency layer is built: see README.md and build_layer.py."""
