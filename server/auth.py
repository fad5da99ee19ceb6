"""Who is asking: every upload, job, live session and history row belongs to a user.

Two modes (``Settings.auth``):

- ``single`` (the default, loopback only): one local user, ``LOCAL_USER``; nothing to set up.
- ``accounts``: users made with ``coach users add NAME``. The page signs in with name and password
  (``POST /api/sign-in``) and gets an HTTP-only, SameSite=Strict cookie; every state-changing request
  made with that cookie must carry the sign-in's CSRF token in ``X-CSRF-Token``. API clients send
  their personal token as ``Authorization: Bearer <token>`` instead.

Passwords are hashed with argon2id (``argon2-cffi``, the Password Hashing Competition's winner).
Personal tokens and sign-in ids are 256-bit random strings, stored only as SHA-256 hashes (they are
not guessable, so a fast hash is enough; a stolen database gives no usable token).

A request for something that is not the caller's gets 404, as for something that does not exist.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from server.jobs.store import LOCAL_USER, Store
from server.security import RateLimits, client_address
from server.services import SettingsDep, StoreDep, services_of
from server.settings import Settings

SIGN_IN_COOKIE = "coach_sign_in"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_PASSWORD_LENGTH = 10
"""NIST SP 800-63B asks for at least 8 characters; 10 costs a user little."""

_hasher = PasswordHasher()  # argon2id with the library's defaults (RFC 9106's second profile)
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))  # verified against for unknown names: equal timing


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``; ValueError when it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (None: an unknown user, checked
    against a dummy hash all the same so the answer takes as long)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A 256-bit random token (personal tokens, sign-in ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """How a token or sign-in id is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(store: Store, name: str, password: str) -> str:
    """Create a user; returns their personal token (shown once, stored only as a hash). ValueError for a
    bad name, a short password or a name taken."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name) or name == LOCAL_USER:
        raise ValueError(f"a user name is 1-64 letters, digits, '.', '_' or '-', and not {LOCAL_USER!r}")
    token = new_secret()
    store.add_user(name, hash_password(password), secret_hash(token))
    return token


def _bearer(connection: HTTPConnection) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def identify(connection: HTTPConnection, settings: Settings, store: Store) -> tuple[str, str | None] | None:
    """(user, CSRF token of a cookie sign-in, else None) of a request, or None when nobody signed in."""
    if settings.auth == "single":
        return LOCAL_USER, None
    token = _bearer(connection)
    if token is not None:
        user = store.user_by_token(secret_hash(token))
        return (user, None) if user is not None else None
    cookie = connection.cookies.get(SIGN_IN_COOKIE)
    if cookie:
        signed_in = store.sign_in(secret_hash(cookie))
        if signed_in is not None:
            return signed_in
    return None


def current_user(request: Request, settings: SettingsDep, store: StoreDep) -> str:
    """The signed-in user (401 without one); a state-changing request signed in by cookie must carry
    the sign-in's CSRF token (403 without it)."""
    found = identify(request, settings, store)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in first (or send your personal token as `Authorization: Bearer <token>`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user, csrf = found
    if csrf is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), csrf.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER} header")
    return user


UserDep = Annotated[str, Depends(current_user)]
"""The user a handler acts for."""


def rate_limits(request: Request) -> RateLimits:
    limits = services_of(request.app).limits
    assert isinstance(limits, RateLimits)
    return limits


router = APIRouter(prefix="/api")


class SignIn(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


@router.post("/sign-in", summary="Sign in (auth=accounts): sets an HTTP-only cookie; returns the CSRF token")
def sign_in(
    body: SignIn, request: Request, response: Response, settings: SettingsDep, store: StoreDep
) -> dict[str, Any]:
    if settings.auth != "accounts":
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this server has no accounts (auth=single)")
    rate_limits(request).check("sign-in", client_address(request), settings.logins_per_minute)
    if not password_matches(store.password_hash(body.name), body.password):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong name or password")
    sign_in_id, csrf = new_secret(), new_secret()
    lifetime_s = settings.session_cookie_hours * 3600
    store.add_sign_in(secret_hash(sign_in_id), body.name, csrf, time.time() + lifetime_s)
    response.set_cookie(
        SIGN_IN_COOKIE,
        sign_in_id,
        max_age=int(lifetime_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return {"user": body.name, "csrf": csrf}


@router.post("/sign-out", summary="Sign out (auth=accounts)")
def sign_out(request: Request, response: Response, store: StoreDep, user: UserDep) -> dict[str, Any]:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if cookie:
        store.remove_sign_in(secret_hash(cookie))
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return {"user": user, "signed_out": True}


@router.get("/me", summary="Who is signed in, the auth mode, and the CSRF token of a cookie sign-in")
def me(request: Request, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    found = identify(request, settings, store)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    user, csrf = found
    return {"user": user, "auth": settings.auth, "csrf": csrf}
