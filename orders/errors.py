"""Errors of the orders package. Each has its own code, so a client can tell them apart."""

from __future__ import annotations

from core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unprocessable,
)


class SaleNotFound(NotFound):
    code = "sale_not_found"


class OrderNotFound(NotFound):
    code = "order_not_found"


class NotSaleHost(PermissionDenied):
    code = "not_sale_host"


class NotOrderOwner(PermissionDenied):
    code = "not_order_owner"


class SoldOut(Conflict):
    code = "sold_out"


class LimitReached(Conflict):
    code = "limit_reached"


class SaleNotStarted(Conflict):
    code = "sale_not_started"


class SaleEnded(Conflict):
    code = "sale_ended"


class SaleAlreadyRunning(Conflict):
    """The room already has a sale that is scheduled or running."""

    code = "sale_in_progress"


class RequestInProgress(Conflict):
    """A request with the same Idempotency-Key is still being handled."""

    code = "request_in_progress"


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"


class SaleUnavailable(Unavailable):
    """The sale's counters are being rebuilt from PostgreSQL; retry shortly."""

    code = "sale_unavailable"


class BadSignature(DomainError):
    code = "bad_signature"


class StaleWebhook(DomainError):
    code = "stale_webhook"


class PaymentLinkInvalid(PermissionDenied):
    code = "payment_link_invalid"


class VariantNotFound(NotFound):
    code = "variant_not_found"


class NotProductHost(PermissionDenied):
    code = "not_product_host"


class StockBelowCommitted(Conflict):
    """A variant's stock may not go below the units its orders hold or sold."""

    code = "stock_below_committed"


class NotEnoughStock(Conflict):
    """A flash sale asks for more units than its variant's pool has available."""

    code = "not_enough_stock"


class VariantRequired(Unprocessable):
    """A product with sizes or colours: a flash sale names the variant it takes units from."""

    code = "variant_required"


class ProductHasOptions(Conflict):
    """The product's stock is its variants': a product with options has no single stock."""

    code = "product_has_options"


class AddressRequired(Unprocessable):
    """A regular-price order ships somewhere: the buyer's account has no address yet."""

    code = "address_required"


class MixedCurrencies(Unprocessable):
    code = "mixed_currencies"


# Live-room coupons (orders/coupons.py): each refusal has its own code.


class CouponNotFound(NotFound):
    code = "coupon_not_found"


class NotRoomHost(PermissionDenied):
    code = "not_room_host"


class CouponRoomNotLive(Conflict):
    code = "room_not_live"


class CouponExpired(Conflict):
    code = "coupon_expired"


class CouponExhausted(Conflict):
    code = "coupon_exhausted"


class CouponAlreadyClaimed(Conflict):
    code = "coupon_already_claimed"


class CouponFollowersOnly(PermissionDenied):
    """The coupon is for the host's followers, and the viewer does not follow the host."""

    code = "coupon_followers_only"


class HostCannotClaim(PermissionDenied):
    code = "host_cannot_claim"


class CouponNotYours(PermissionDenied):
    """The claim named at checkout is another viewer's (or does not exist)."""

    code = "coupon_not_yours"


class CouponUsed(Conflict):
    code = "coupon_used"


class CouponNotForThisRoom(Conflict):
    code = "coupon_not_for_this_room"


class CouponBelowMinimum(Unprocessable):
    code = "coupon_below_minimum"


class CouponCurrencyMismatch(Unprocessable):
    code = "coupon_currency_mismatch"


# Bargains (orders/bargains.py): each refusal has its own code.


class BargainOfferNotFound(NotFound):
    code = "bargain_offer_not_found"


class BargainNotFound(NotFound):
    code = "bargain_not_found"


class CannotHelpOwnBargain(PermissionDenied):
    code = "cannot_help_own_bargain"


class CannotBargainOwnOffer(PermissionDenied):
    """The host starts no bargain on their own offer."""

    code = "cannot_bargain_own_offer"


class NotYourOffer(PermissionDenied):
    """Only the offer's host (or ops) withdraws it."""

    code = "not_your_offer"


class NotYourBargain(PermissionDenied):
    """Only the buyer who started a bargain buys at its price."""

    code = "not_your_bargain"


class AlreadyHelped(Conflict):
    code = "already_helped"


class BargainExpired(Conflict):
    code = "bargain_expired"


class OfferWithdrawn(Conflict):
    """The host withdrew the offer: it starts no new bargain (those started keep running)."""

    code = "offer_withdrawn"


class BargainComplete(Conflict):
    """Every helper the offer asked for has cut: the price is at the floor."""

    code = "bargain_complete"


class BargainAlreadyBought(Conflict):
    code = "bargain_already_bought"
