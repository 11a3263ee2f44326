"""The domain events of group buys (orders/groups.py, orders/group_members.py); handlers run
after the commit (workers/handlers.py), except `GroupUnitsReleased`, handled inside the
recording transaction by the product's owner."""

from __future__ import annotations

from core.events import DomainEvent, domain_event


@domain_event
class GroupDealChanged(DomainEvent):
    """Something happened to a group deal of a room. Never recorded itself."""

    deal_id: int
    room_id: int


@domain_event
class GroupDealCreated(GroupDealChanged):
    """A host offered a group deal; its units left the product's stock."""

    product_id: int


@domain_event
class GroupDealEnded(GroupDealChanged):
    """The host ended the deal (or its room ended): no new group opens."""


@domain_event
class GroupDealSettled(GroupDealChanged):
    """An ended deal with no open group gave its unsold units back to the product (once)."""

    product_id: int
    units_returned: int


@domain_event
class GroupUnitsReleased(DomainEvent):
    """Units of a product a group deal no longer needs: an ended deal's unsold units at its
    settlement, or a formed group's refunded unit after it. Handled inside the recording
    transaction (workers/handlers.py): they go back to the product's default variant, the
    pool the deal took them from, so once."""

    product_id: int
    units: int
    deal_id: int
    order_id: int | None = None


@domain_event
class GroupChanged(DomainEvent):
    """Something happened to a group: the room hears its progress. Never recorded itself."""

    group_id: int
    deal_id: int
    room_id: int


@domain_event
class GroupOpened(GroupChanged):
    """A buyer opened a group (their slot held while they pay)."""


@domain_event
class GroupJoined(GroupChanged):
    """A buyer holds a slot of the group while they pay."""


@domain_event
class GroupSlotFreed(GroupChanged):
    """A member's unpaid order expired or was cancelled: their slot is free again."""


@domain_event
class GroupMemberPaid(GroupChanged):
    """A member's payment was counted; the group is not full yet."""


@domain_event
class GroupFormed(GroupChanged):
    """The group's last member paid before its deadline: every member hears it."""


@domain_event
class GroupFailed(GroupChanged):
    """The group's deadline passed short of members: every paid member was refunded (through
    the outbox) and every unpaid order cancelled, in the failure's transaction; each member
    hears it."""

    reason: str
