"""The local runtime: one process serving every route, stream, schedule and subscription."""
