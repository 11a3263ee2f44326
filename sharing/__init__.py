"""Share links: a signed code per sharer and target, the visits through it, and the
attributions they set (docs/social.md). What a sharer earns lives in the commission ledger
(orders/commissions.py)."""
