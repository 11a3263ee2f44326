"""Domain events: what happened, recorded inside a transaction, handled after its commit.

A domain action changes its own tables and records typed events on the session
(`record(session, SalesSettled(...))`). Nothing with an outside effect (a room publish, a
payment provider call, a Celery task, another package's work) runs inside the transaction:
handlers run after the commit, so a viewer never sees a pin or an order that was rolled back
(zulip's `send_event_on_commit`, Django's `transaction.on_commit`).

- Events recorded on a session are held as *pending*; the commit moves them to *committed*
  (SQLAlchemy's `after_commit`), a rollback drops the pending ones (`after_soft_rollback`).
- `unit_of_work(svc)` opens a transaction and, once it has committed, hands the committed
  events to the bus; `commit(svc, session)` does the same for code that commits by hand.
- The bus calls every handler registered for the event's type, in registration order.
  Handlers are registered in one place at start-up (each process's composition root).
- A handler that fails is logged and the others still run: the commit has happened and
  cannot be undone by an effect failing. Work that must not be lost is either idempotent and
  swept (the outbox, the settle and report sweeps) or done inside the transaction.
- Work of another package that must commit with the action or not at all (orders giving a
  sale's unsold units back to live's product) is an *in-transaction* handler: exactly one per
  event type, called by the action with its session (`run_in_transaction`), so the two
  packages' rows change in one transaction while each package writes only its own tables. An
  action whose in-transaction event has no handler fails: a process that forgot to wire its
  handlers must not lose the work silently.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from core.context import Services

log = logging.getLogger(__name__)

_PENDING = "domain_events.pending"
_COMMITTED = "domain_events.committed"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, named in the past tense (`OrderPaid`, `ProductPinned`)."""


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[["Services", Any], Awaitable[None]]
InTransactionHandler = Callable[[AsyncSession, Any], Awaitable[Any]]


@dataclass_transform(frozen_default=True)
def domain_event(cls: type[E]) -> type[E]:
    """Declare a domain event: like every event, a frozen dataclass with slots (facts that
    handlers read after the commit; none of them changes one)."""
    return dataclass(frozen=True, slots=True)(cls)


def record(session: AsyncSession | Session, *events: DomainEvent) -> None:
    """Record events on the session; they are handled after its commit, or never."""
    info = session.info
    pending: list[DomainEvent] | None = info.get(_PENDING)
    if pending is None:
        pending = info[_PENDING] = []
    pending.extend(events)


def take_committed(session: AsyncSession | Session) -> list[DomainEvent]:
    """The events of the commits so far that no one has handled yet (and forget them)."""
    committed: list[DomainEvent] = session.info.pop(_COMMITTED, [])
    return committed


@sa_event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@sa_event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, previous_transaction: Any) -> None:
    # A rollback of the outermost transaction drops what it recorded; a savepoint's rollback
    # would too, which is what an action that records inside a savepoint it rolls back wants.
    session.info.pop(_PENDING, None)


class EventBus:
    """The handlers of each event type, called after the commit that recorded the event."""

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler]] = {}
        self._in_transaction: dict[type[DomainEvent], InTransactionHandler] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[Services, E], Awaitable[None]],
                  ) -> None:
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def handle_in_transaction(self, event_type: type[E],
                              handler: Callable[[AsyncSession, E], Awaitable[Any]]) -> None:
        """The one handler that does the event's work inside the recording transaction (what
        it returns, `run_in_transaction` returns: the facts the work produced)."""
        self._in_transaction[event_type] = handler

    async def run_in_transaction(self, session: AsyncSession, domain_event: DomainEvent) -> Any:
        handler = self._in_transaction.get(type(domain_event))
        if handler is None:
            raise LookupError(f"no in-transaction handler for {type(domain_event).__name__}: "
                              "the process must wire its handlers at start-up")
        return await handler(session, domain_event)

    def handlers_for(self, event_type: type[DomainEvent]) -> list[Handler]:
        return list(self._handlers.get(event_type, ()))

    def in_transaction_handler_for(self, event_type: type[DomainEvent],
                                   ) -> InTransactionHandler | None:
        return self._in_transaction.get(event_type)

    async def dispatch(self, svc: Services, events: Iterable[DomainEvent]) -> None:
        for domain_event in events:
            for handler in self._handlers.get(type(domain_event), ()):
                try:
                    await handler(svc, domain_event)
                except Exception:
                    log.exception("handler %s failed for %r", getattr(handler, "__qualname__",
                                                                      handler), domain_event)


@asynccontextmanager
async def unit_of_work(svc: Services) -> AsyncIterator[AsyncSession]:
    """A transaction whose recorded events are handled once it has committed."""
    async with svc.db.transaction() as session:
        yield session
    await svc.events.dispatch(svc, take_committed(session))


async def commit(svc: Services, session: AsyncSession) -> None:
    """Commit by hand, then handle what the commit recorded."""
    await session.commit()
    await svc.events.dispatch(svc, take_committed(session))


async def dispatch_committed(svc: Services, session: AsyncSession) -> None:
    """Handle what a transaction that has already committed recorded (for an action that has
    work of its own to finish first, such as moving Redis counters the handlers then read)."""
    await svc.events.dispatch(svc, take_committed(session))
