"""Engagement in a live room: red envelope rains (红包雨) and lucky draws (福袋), both provably
fair (docs/engagement.md), and the viewers' wallet ledger that envelopes credit."""
