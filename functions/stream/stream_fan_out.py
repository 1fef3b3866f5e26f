"""Lambda: posts each streamed event to its WebSocket subscribers (see trading_system/catalog.py)."""

from trading_system.entrypoints.lambda_runtime import streamed_function

handler = streamed_function("stream_fan_out")
