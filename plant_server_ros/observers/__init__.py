"""Observers of a running plant: recording, the live view."""
