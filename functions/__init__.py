"""One module per Lambda function; `catalog.py` is the list of them all."""
