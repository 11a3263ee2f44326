"""Hosts, rooms and their lifecycle, products and the room's lineup, pins, moderation."""
