"""Implementations of the hal/ contracts."""
