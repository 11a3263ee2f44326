"""The websocket hub: connections, room channels, fan-out, protocol, presence, chat, resume.

Domain packages talk to rooms only through `realtime.publish`.
"""
