"""Errors of group buys, each with its own code (the catalogs give words to `errors.<code>`).
A refusal changes nothing (docs/social.md, "Group buys")."""

from __future__ import annotations

from core.errors import Conflict, Gone, NotFound, PermissionDenied


class GroupDealNotFound(NotFound):
    code = "group_deal_not_found"


class GroupNotFound(NotFound):
    code = "group_not_found"


class NotDealHost(PermissionDenied):
    code = "not_deal_host"


class HostCannotJoin(PermissionDenied):
    """A host does not buy from their own group deal."""

    code = "host_cannot_join"


class DealSoldOut(Conflict):
    """Fewer units are left in the deal than a new group sets aside."""

    code = "deal_sold_out"


class DealEnded(Conflict):
    """The host ended the deal: no new group opens (open ones run to their deadline)."""

    code = "deal_ended"


class GroupFull(Conflict):
    """Every slot is held or paid for (or the group has formed)."""

    code = "group_full"


class GroupAlreadyFailed(Conflict):
    code = "group_failed"


class GroupExpired(Gone):
    """The group's deadline has passed."""

    code = "group_expired"


class AlreadyInGroup(Conflict):
    """The buyer holds a slot of this group already, or is a member."""

    code = "already_in_group"


class GroupStillOpen(Conflict):
    """A paid member of an open group is refunded when the group fails, not by hand."""

    code = "group_still_open"
