"""Comment-to-buy: in a room whose host switched it on, a viewer's chat line such as
`buy 2 blue M`, `买2 蓝色 M` or `+1` holds a regular-price order of the pinned product's
matching variant (`orders.regular.place_order`: the same hold, expiry, payment and cancel as a
tap on Buy), and the viewer alone hears of it: a `chat_buy` user event with the order (the
room page shows a one-tap "confirm and pay" card) or with a hint saying why nothing was held.
The chat line itself goes to the room like any other.

`parse_command` and `match_variant` are pure (the rules are in docs/architecture.md,
"Comment-to-buy"); `ChatBuyListener` is the hub's chat listener, which checks the room's
switch in the hub's copy of the room and does everything else in a task of its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import column, select, table

from core.context import Services
from core.errors import DomainError
from orders.errors import AddressRequired, SoldOut, VariantNotFound
from orders.models import ProductVariant
from orders.regular import LineIn, TermsOf, place_order
from realtime.publish import ServerEvent, publish_user

log = logging.getLogger(__name__)

# Lines being matched and placed at once by one process: each holds a database connection
# while it places its order, and the pool is shared with every request.
MAX_CONCURRENT_PLACINGS = 8
# Lines waiting beyond the running ones. A chat storm of buy lines past this is dropped (and
# logged): the viewer's line is in the chat anyway, and Buy on the product card still works.
MAX_WAITING_LINES = 500

_rooms = table("rooms", column("id"), column("pinned_product_id"))

# The words that start a buy line, casefolded: what viewers type in either language.
BUY_WORDS = ("buy", "购买", "我要买", "买")
CHINESE_NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                   "八": 8, "九": 9, "十": 10, "零": 0}
ENGLISH_NUMBERS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                   "seven": 7, "eight": 8, "nine": 9, "ten": 10}
# Measure words and fillers that may follow a quantity or sit between options.
FILLERS = frozenset({"件", "个", "份", "条", "双", "套", "x", "\u00d7", "*", "pcs", "pc", "please",
                     "请", "的", "和", "and"})
# Colours and sizes as viewers type them in either language: each group is one value, so `蓝色`
# in a line finds the variant the host typed `Blue`, and `blue` finds one typed `蓝色`. Only the
# common ones: a host's own words (`雾霾蓝`, `Oat`) match as typed.
SYNONYMS: tuple[frozenset[str], ...] = tuple(frozenset(group) for group in (
    {"blue", "蓝色", "蓝"}, {"red", "红色", "红"}, {"black", "黑色", "黑"},
    {"white", "白色", "白"}, {"green", "绿色", "绿"}, {"yellow", "黄色", "黄"},
    {"pink", "粉色", "粉红色", "粉红", "粉"}, {"purple", "紫色", "紫"},
    {"grey", "gray", "灰色", "灰"}, {"brown", "棕色", "咖啡色", "棕"},
    {"orange", "橙色", "橘色", "橙"}, {"beige", "米色", "米白"}, {"navy", "藏青色", "藏青"},
    {"gold", "金色"}, {"silver", "银色"},
    {"xs", "加小号", "加小码", "特小号"}, {"s", "小号", "小码"}, {"m", "中号", "中码"},
    {"l", "大号", "大码"}, {"xl", "加大号", "加大码", "加大"},
    {"xxl", "2xl", "加加大", "特大号"},
))
_SYNONYMS_OF: dict[str, frozenset[str]] = {word: group for group in SYNONYMS for word in group}
# A question or a report about buying is chat, not a command, and gets no hint: `买了吗`
# ("did you buy it?"), `buy?`, `买了` ("bought it"), `买不买`, `买过`.
_QUESTION_END = re.compile(r"(?:[?]|吗|么|嘛|呢|没有?)[\s~!.。]*$")
_NOT_A_COMMAND_AFTER_BUY = ("了", "过", "不", "没", "吗")
# NFKC has made full-width punctuation ASCII already; 、 and 。 stay as they are.
_SEPARATORS = re.compile(r"[\s,、/;。.!?]+")
_PLUS = re.compile(r"^\+\s*(\d+)(.*)$", re.S)
_QUANTITY = re.compile(r"^(?:[x\u00d7*]\s*)?(\d+|[一两二三四五六七八九十零])\s*(?:[件个份条双套]|pcs|pc)?(.*)$",
                       re.S)
_ENGLISH_QUANTITY = re.compile(r"^(" + "|".join(ENGLISH_NUMBERS) + r")\b(.*)$", re.S)
_ASCII_WORD = re.compile(r"^[0-9a-z]")


@dataclass(frozen=True, slots=True)
class Command:
    """A chat line that asks to buy: its quantity (1 if it names none) and the rest, the option
    words, normalised (NFKC, casefolded)."""

    quantity: int
    rest: str


@dataclass(frozen=True, slots=True)
class Variant:
    id: int
    options: Mapping[str, str]
    active: bool


# A command that names one variant is the order line it asks for.
Matched = LineIn


@dataclass(frozen=True, slots=True)
class Hint:
    """Why a buy line held nothing: `code` names it for the page's catalog (`chatbuy.<code>`),
    `params` fill its text."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


def normalise(text: str) -> str:
    # NFKC folds full-width digits, letters and punctuation (a phone's Chinese keyboard
    # types them) into ASCII.
    return unicodedata.normalize("NFKC", text).casefold().strip()


def parse_command(text: str) -> Command | None:
    """The buy command in a chat line, or None for an ordinary line (which gets no hint).

    A command is `+N` (N units) or a buy word (`buy`, `买`, `购买`, `我要买`) at the start of
    the line, then optionally a quantity (digits, 一…十 or 两, one…ten, optionally after `x`
    or before a measure word such as 件), then the option words. A question (`买了吗`,
    `buy?`) or a report (`买了`) is not a command."""
    line = normalise(text)
    if _QUESTION_END.search(line):
        return None
    plus = _PLUS.match(line)
    if plus:
        return Command(int(plus.group(1)), plus.group(2).strip())
    for word in BUY_WORDS:
        if not line.startswith(word):
            continue
        rest = line[len(word):]
        # An English buy word must end there (`buying` is chat, not a command).
        if word.isascii() and rest and not (rest[0].isspace() or rest[0].isdigit()):
            return None
        if rest.startswith(_NOT_A_COMMAND_AFTER_BUY):
            return None
        rest = rest.strip()
        quantity = _QUANTITY.match(rest)
        if quantity:
            amount = quantity.group(1)
            number = int(amount) if amount.isdigit() else CHINESE_NUMBERS[amount]
            # `buy 2XL`: a digit glued to letters is an option value, not a quantity.
            after = rest[quantity.end(1):quantity.end(1) + 1]
            if not (amount.isdigit() and after.isascii() and after.isalpha()):
                return Command(number, quantity.group(2).strip())
        english = _ENGLISH_QUANTITY.match(rest)
        if english:
            return Command(ENGLISH_NUMBERS[english.group(1)], english.group(2).strip())
        return Command(1, rest)
    return None


def _find(value: str, rest: str) -> re.Match[str] | None:
    """Where an option value stands in the line: a whole word for a Latin value (`m` is not in
    `medium`), anywhere for a Chinese one (Chinese has no spaces between words)."""
    if _ASCII_WORD.match(value):
        return re.search(r"(?<![0-9a-z])" + re.escape(value) + r"(?![0-9a-z])", rest)
    return re.search(re.escape(value), rest)


def spellings(values: set[str]) -> dict[str, set[str]]:
    """Every way a viewer may write the option values (normalised), and which values each
    spelling stands for: the value itself and the words of its synonym group (`SYNONYMS`)."""
    out: dict[str, set[str]] = {}
    for value in values:
        for spelling in {value} | _SYNONYMS_OF.get(value, frozenset()):
            out.setdefault(spelling, set()).add(value)
    return out


def match_variant(command: Command, variants: Sequence[Variant], *,
                  max_quantity: int) -> Matched | Hint:
    """The variant of the pinned product a command names, or why none.

    Every option value of the product's variants, and its synonyms in the other language
    (`蓝色` for `Blue`, `M` for `中号`), is looked for in the line, case-insensitively (longest
    first, so `xl` is not read as `l`, nor `加大号` as `大号`); what is left must be only
    separators and measure words, else the line names an option the product does not have.
    The variants whose options hold every value found are the candidates: one is the match (a
    product with one variant needs no option words); none, several, or an inactive one is a
    hint."""
    if not 1 <= command.quantity <= max_quantity:
        return Hint("quantity_range", {"max": max_quantity})
    if not variants:
        return Hint("no_variant")
    written = spellings({normalise(v) for variant in variants
                         for v in variant.options.values()} - {""})
    rest = command.rest
    # Each word found, as the values it may stand for (one, unless the host typed two
    # spellings of one colour as two values).
    found: list[set[str]] = []
    for spelling in sorted(written, key=len, reverse=True):
        spot = _find(spelling, rest)
        if spot is not None:
            found.append(written[spelling])
            rest = rest[:spot.start()] + " " + rest[spot.end():]
    leftover = [word for word in _SEPARATORS.split(rest) if word and word not in FILLERS]
    if leftover:
        return Hint("unknown_option", {"word": leftover[0]})
    candidates = [variant for variant in variants
                  if all(values & {normalise(v) for v in variant.options.values()}
                         for values in found)]
    active = [variant for variant in candidates if variant.active]
    if len(active) == 1:
        return Matched(active[0].id, command.quantity)
    if len(active) > 1:
        named = set().union(*found)
        given = {name for variant in active for name, v in variant.options.items()
                 if normalise(v) in named}
        missing = sorted({name for variant in active for name in variant.options} - given)
        return Hint("ambiguous", {"options": ", ".join(missing), "count": len(active)})
    if candidates:
        return Hint("variant_inactive")
    return Hint("no_match")


# Placing ------------------------------------------------------------------------------------


def order_key(room_id: int, line_key: str) -> str:
    """The order's Idempotency-Key: the line's key is the client's id for the line (a resent
    frame has the same one) or the line's message id, and the lookup is per buyer."""
    return f"chat:{room_id}:{line_key}"


async def _tell(svc: Services, user_id: int, room_id: int, text: str, hint: Hint) -> None:
    await publish_user(svc.redis, svc.keys, user_id, ServerEvent.CHAT_BUY, {
        "room_id": room_id, "text": text, "hint": {"code": hint.code, **hint.params}})


def _hint_of(error: DomainError) -> Hint:
    if isinstance(error, AddressRequired):
        return Hint("address_required")
    if isinstance(error, SoldOut):
        return Hint("sold_out", {"remaining": int(error.extra.get("remaining") or 0)})
    if isinstance(error, VariantNotFound):
        return Hint("variant_inactive")
    if error.code == "room_not_live":
        return Hint("room_not_live")
    return Hint("refused", {"reason": error.code})


async def buy_by_chat(svc: Services, room_id: int, user_id: int, text: str, line_key: str,
                      terms_of: TermsOf) -> Matched | Hint | None:
    """Match a chat line of a room with comment-to-buy on and hold its order; the buyer hears
    the order or the hint. None for an ordinary chat line."""
    command = parse_command(text)
    if command is None:
        return None
    async with svc.db.session() as session:
        pinned = await session.scalar(select(_rooms.c.pinned_product_id)
                                      .where(_rooms.c.id == room_id))
        rows = [] if pinned is None else list(await session.scalars(
            select(ProductVariant).where(ProductVariant.product_id == pinned)
            .order_by(ProductVariant.position, ProductVariant.id)))
    if pinned is None:
        hint = Hint("no_pinned")
        await _tell(svc, user_id, room_id, text, hint)
        return hint
    result = match_variant(command, [Variant(v.id, v.options, v.active) for v in rows],
                           max_quantity=svc.settings.regular_max_quantity)
    if isinstance(result, Hint):
        await _tell(svc, user_id, room_id, text, result)
        return result
    try:
        reply, _replayed = await place_order(
            svc, user_id, [result],
            order_key(room_id, line_key), terms_of)
    except DomainError as refused:
        hint = _hint_of(refused)
        await _tell(svc, user_id, room_id, text, hint)
        return hint
    # A replay (the frame came again) tells the card again: the buyer sees the one order.
    await publish_user(svc.redis, svc.keys, user_id, ServerEvent.CHAT_BUY, {
        "room_id": room_id, "text": text, "order": orjson.loads(reply)["order"]})
    return result


class ChatBuyListener:
    """The hub's chat listener (realtime.hub.Hub.chat_listeners). Called with each accepted
    line after it is published: one dictionary look-up answers whether the room has
    comment-to-buy on (the hub's copy of the room, kept fresh by its `room` events), and a
    line that is no command costs a parse; the rest runs in a task of its own, bounded."""

    def __init__(self, svc: Services, room_of: Callable[[int], Mapping[str, Any] | None],
                 terms_for: Callable[[int], TermsOf]) -> None:
        self.svc = svc
        self.room_of = room_of
        self.terms_for = terms_for
        self.gate = asyncio.Semaphore(MAX_CONCURRENT_PLACINGS)
        self.tasks: set[asyncio.Task[Matched | Hint | None]] = set()

    def __call__(self, room_id: int, user_id: int, text: str, line_key: str) -> None:
        room = self.room_of(room_id)
        if room is None or not room.get("comment_to_buy"):
            return
        if room.get("host_id") == user_id:
            return  # the host showing viewers how to buy is not buying
        if parse_command(text) is None:
            return
        if len(self.tasks) >= MAX_CONCURRENT_PLACINGS + MAX_WAITING_LINES:
            log.warning("comment-to-buy: too many lines waiting; room %s line dropped", room_id)
            return
        task = asyncio.get_running_loop().create_task(
            self._run(room_id, user_id, text, line_key), name="chat-buy")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _run(self, room_id: int, user_id: int, text: str,
                   line_key: str) -> Matched | Hint | None:
        async with self.gate:
            return await buy_by_chat(self.svc, room_id, user_id, text, line_key,
                                     self.terms_for(room_id))

    def _done(self, task: asyncio.Task[Matched | Hint | None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("comment-to-buy failed", exc_info=task.exception())

