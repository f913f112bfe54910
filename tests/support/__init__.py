"""Helpers for tests that run real servers and real clients."""
