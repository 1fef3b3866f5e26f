"""Lambda: a stream client's frames and its $disconnect (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import websocket_function

handler = websocket_function("stream_messages")
