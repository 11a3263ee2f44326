"""Where an order was bought: the sale's live room, a room's replay or a short video.

The page that sends the buy names its source; the server checks it before anything is
reserved, so an order never claims a video that does not show its product: a `live` source
must be the sale's own room; a `replay` or `video` source must be a ready video of that kind
(a replay is a video with a room) that has the sale's product among its tags. orders knows
nothing of videos: the caller passes live's check (`live.queries.video_shows_product`) in.

A buy without a source (the live room's page, the API's older clients) is the live room's;
only the video pages pay for the extra reads, the room's buy path stays as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Services
from core.errors import ValidationError
from orders import queries
from orders.models import OrderSource

# live's check: (session, kind "replay" | "video", video id, product id) -> does it show it.
VideoShowsProduct = Callable[[AsyncSession, str, int, int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class OrderSourceRef:
    kind: str
    id: int


async def check_source(svc: Services, sale_id: int, kind: str, source_id: int,
                       video_shows_product: VideoShowsProduct) -> OrderSourceRef:
    """The checked source of a buy in `sale_id`, or a 422 naming `source.id` and why (an
    unknown sale is the buy's usual 404)."""
    async with svc.db.session() as session:
        sale = await queries.get_sale(session, sale_id)
        if kind == OrderSource.LIVE:
            if source_id != sale.room_id:
                raise ValidationError([{"field": "source.id",
                                        "message": "a live source is the sale's own room "
                                                   f"({sale.room_id})"}])
        elif not await video_shows_product(session, kind, source_id, sale.product_id):
            raise ValidationError([{"field": "source.id",
                                    "message": f"no ready {kind} {source_id} shows this "
                                               "sale's product"}])
    return OrderSourceRef(kind, source_id)
