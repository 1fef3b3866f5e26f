"""Lambda: the WebSocket API's $connect, checking the key or token (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import websocket_function

handler = websocket_function("stream_connect")
