"""User accounts: every package refers to users, so they live in the shared kernel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import CheckConstraint, String, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Database
from core.errors import Conflict, NotAuthenticated, ValidationError
from core.security import dummy_hash, hash_password_off_loop, verify_password_off_loop


class Role(StrEnum):
    VIEWER = "viewer"
    HOST = "host"
    OPS = "ops"


class Actor(Protocol):
    """Whoever acts: a web request's principal, a user row, a test's stand-in."""

    @property
    def id(self) -> int: ...

    @property
    def is_ops(self) -> bool: ...


def owns_or_ops(actor: Actor, owner_id: int) -> bool:
    """The one rule for "is this the owner (of a room, a sale, an order) or ops"."""
    return actor.id == owner_id or actor.is_ops


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role in ('viewer', 'host', 'ops')", name="role"),
                      CheckConstraint("locale is null or locale in ('zh-CN', 'en')",
                                      name="locale"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(40))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    # Bumped to log a user out everywhere: tokens carry the version they were issued with.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Where regular-price orders ship: given once, editable, copied onto each order
    # (orders/regular.py). None until the buyer gives one.
    shipping_address: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The language the user chose for the pages (web/i18n.py); None until they choose one.
    locale: Mapped[str | None] = mapped_column(String(10), default=None)

    @property
    def is_ops(self) -> bool:
        return self.role == Role.OPS

    def public(self) -> dict[str, object]:
        return {"id": self.id, "display_name": self.display_name, "role": self.role}


async def create_user(session: AsyncSession, *, email: str, password: str, display_name: str,
                      role: Role) -> User:
    email = email.strip().lower()
    # Hashed before the first query: a session takes its database connection at that query,
    # and must not hold it while the hash waits for a worker thread.
    password_hash = await hash_password_off_loop(password)
    existing = await session.scalar(select(User.id).where(User.email == email))
    if existing is not None:
        raise Conflict("an account with this email exists", field="email", code="email_taken")
    user = User(email=email, display_name=display_name.strip(), password_hash=password_hash,
                role=role.value)
    session.add(user)
    await session.flush()
    return user


async def authenticate(db: Database, *, email: str, password: str) -> User:
    """The user with this email and password, else `NotAuthenticated`. The password is checked
    in a worker thread (core.security), after the database session is closed."""
    async with db.session() as session:
        user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    # Verify against a dummy hash when the user is unknown, so timing does not reveal accounts.
    matches = await verify_password_off_loop(
        user.password_hash if user is not None else dummy_hash(), password)
    if user is None or not matches:
        raise NotAuthenticated("wrong email or password", field="password", code="bad_credentials")
    return user


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise ValidationError([{"field": "password", "message": "must be at least 8 characters"}])

