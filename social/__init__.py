"""Follows, "remind me" subscriptions, in-app notifications (go-live alerts), reviews of
completed orders and the seller score (docs/architecture.md; docs/metrics.md for the score)."""
