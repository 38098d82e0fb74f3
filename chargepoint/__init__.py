"""Borne: open firmware for AC EV charge points."""

__version__ = "0.1.0"
