"""Sign up, log in, log out, who am I."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import Response

from core import ratelimit
from core.accounts import Role, User, authenticate, check_password_strength, create_user
from core.errors import NotAuthenticated, PermissionDenied
from core.security import HashingBusy
from core.settings import Settings
from core.types import Line
from web.api import ApiRouter
from web.api_shares import claim_share_cookie
from web.auth import (
    SESSION_COOKIE,
    Account,
    client_address,
    issue_token,
    refuse_cross_site,
    remember_account,
    require_user,
    revoked,
)
from web.i18n import LOCALE_COOKIE, normalize
from web.locale import keep_choice, save_account_locale
from web.responses import JSON
from web.validation import parse_body

router = ApiRouter("accounts")


class SignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: EmailStr
    password: str = Field(min_length=8, max_length=200)
    display_name: Line = Field(min_length=1, max_length=40)
    role: Role = Role.VIEWER


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: Line = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    id: int
    display_name: str
    role: str


class SessionOut(BaseModel):
    user: UserOut
    token: str


def _with_cookie(response: Response, settings: Settings, token: str) -> Response:
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_max_age_seconds,
                        httponly=True, samesite="lax", secure=settings.session_cookie_secure)
    return response


@router.add("/api/auth/signup", "POST", summary="Create an account (viewer or host)",
            body=SignupIn, response=SessionOut, status=201, auth=False,
            errors=(403, 409, 429, 503))
async def signup(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    refuse_cross_site(request, settings)
    data = await parse_body(request, SignupIn)
    if data.role == Role.OPS:
        raise PermissionDenied("ops accounts are created by an operator", field="role")
    check_password_strength(data.password)
    await ratelimit.begin_signup(request.app.state.redis, request.app.state.keys, settings,
                                 address=client_address(request))
    async with request.app.state.db.transaction() as session:
        user = await create_user(session, email=str(data.email), password=data.password,
                                 display_name=data.display_name, role=data.role)
        # A language chosen before signing up is the new account's.
        user.locale = normalize(request.cookies.get(LOCALE_COOKIE))
    token = issue_token(settings, user)
    await remember_account(request.app.state.redis, request.app.state.keys, Account.of(user))
    response = _with_cookie(JSON({"user": user.public(), "token": token}, status_code=201),
                            settings, token)
    await claim_share_cookie(request, response, user.id)  # a share link followed as a guest
    return response


@router.add("/api/auth/login", "POST", summary="Log in with email and password",
            body=LoginIn, response=SessionOut, auth=False, errors=(401, 403, 429, 503))
async def login(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    refuse_cross_site(request, settings)
    data = await parse_body(request, LoginIn)
    redis, keys, address = request.app.state.redis, request.app.state.keys, client_address(request)
    await ratelimit.begin_login(redis, keys, settings, email=data.email, address=address)
    try:
        user = await authenticate(request.app.state.db, email=data.email, password=data.password)
    except HashingBusy:
        await ratelimit.login_unchecked(redis, keys, email=data.email, address=address)
        raise
    await ratelimit.login_succeeded(redis, keys, email=data.email, address=address)
    token = issue_token(settings, user)
    # Kept in Redis, so that this user's requests (a buy in a flash sale) skip PostgreSQL.
    await remember_account(request.app.state.redis, request.app.state.keys, Account.of(user))
    response = _with_cookie(JSON({"user": user.public(), "token": token}), settings, token)
    await _sync_locale(request, response, settings, user)
    await claim_share_cookie(request, response, user.id)  # a share link followed as a guest
    return response


async def _sync_locale(request: Request, response: Response, settings: Settings,
                       user: User) -> None:
    """The language: this browser's choice (the cookie) wins and is kept on the account; a
    browser without one (a new device) takes the account's."""
    chosen = normalize(request.cookies.get(LOCALE_COOKIE))
    if chosen is not None and chosen != user.locale:
        await save_account_locale(request, user.id, chosen)
    elif chosen is None and user.locale is not None:
        keep_choice(response, settings, user.locale)


@router.add("/api/auth/logout", "POST", summary="Log out (everywhere: every token is revoked)")
async def logout(request: Request) -> Response:
    principal = await require_user(request)
    async with request.app.state.db.transaction() as session:
        version = await session.scalar(
            update(User).where(User.id == principal.id)
            .values(token_version=User.token_version + 1).returning(User.token_version))
    if version is None:  # the account was deleted after this token was checked
        raise NotAuthenticated("this account no longer exists", code="account_gone")
    await revoked(request, Account(principal.id, principal.display_name, principal.role, version))
    response = JSON({"ok": True})
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.add("/api/me", "GET", summary="The logged-in user", response=UserOut)
async def me(request: Request) -> Response:
    principal = await require_user(request)
    return JSON(principal.public())
