"""Shared kernel: messages, the message bus, errors, clock and ids used by every context."""
