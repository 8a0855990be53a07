"""Users, roles, sessions, CSRF and login throttling for the portal (tables ``web_*`` on kb.engine).

Roles: ``public`` (anonymous reader), ``technician`` (one comune), ``planner`` (CMM, all records,
publishes), ``admin`` (users; also has planner rights). Passwords are hashed with Argon2id
(argon2-cffi). A session is a random token in an HttpOnly, SameSite=Lax cookie; only its SHA-256
is stored. Every state-changing form carries the session's CSRF token; the login form uses a
double-submit cookie. Repeated failed logins for one user name or one client address are
throttled (HTTP 429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sttm.remix.registry import writing

ROLES = ("technician", "planner", "admin")
ROLE_LABELS = {"public": "Pubblico", "technician": "Tecnico comunale", "planner": "Pianificatore CMM",
               "admin": "Amministratore"}
SESSION_COOKIE = "sttm_session"
LOGIN_CSRF_COOKIE = "sttm_login_csrf"
SESSION_HOURS = 8
THROTTLE_WINDOW_S = 15 * 60
THROTTLE_MAX_PER_USER = 5
THROTTLE_MAX_PER_IP = 20
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")

_hasher = PasswordHasher()  # Argon2id, library defaults (RFC 9106 second recommended profile)

metadata = sa.MetaData()

users_t = sa.Table(
    "web_users", metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(80), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("istat_code", sa.String(6)),
    sa.Column("full_name", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

sessions_t = sa.Table(
    "web_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

attempts_t = sa.Table(
    "web_login_attempts", metadata,
    sa.Column("attempt_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(80), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
)


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    role: str
    istat_code: str | None
    full_name: str | None = None
    csrf_token: str = ""

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


class AuthError(Exception):
    pass


class Throttled(AuthError):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"troppi tentativi di accesso: riprovare tra {retry_after} s")


def ensure_schema(engine: sa.Engine) -> None:
    metadata.create_all(engine)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(engine: sa.Engine, username: str, password: str, role: str, istat_code: str | None = None,
             full_name: str | None = None) -> int:
    """Create a user; raise ValueError on a bad name, role, comune or weak password."""
    ensure_schema(engine)
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise ValueError("nome utente non valido: 3-80 caratteri minuscoli, cifre, '.', '_' o '-'")
    if role not in ROLES:
        raise ValueError(f"ruolo {role!r} non valido (ammessi: {', '.join(ROLES)})")
    if role == "technician":
        if not istat_code or not re.match(r"^015\d{3}$", istat_code):
            raise ValueError("un tecnico comunale richiede il codice ISTAT del suo comune (015xxx)")
    else:
        istat_code = None
    if len(password) < 10:
        raise ValueError("password troppo corta: almeno 10 caratteri")
    with writing(engine) as conn:
        if conn.execute(sa.select(users_t.c.user_id).where(users_t.c.username == username)).first():
            raise ValueError(f"l'utente {username!r} esiste già")
        res = conn.execute(users_t.insert().values(
            username=username, password_hash=_hasher.hash(password), role=role, istat_code=istat_code,
            full_name=full_name, active=True, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds")))
        return int(res.inserted_primary_key[0])


def list_users(engine: sa.Engine) -> list[dict]:
    ensure_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(users_t.c.username, users_t.c.role, users_t.c.istat_code, users_t.c.full_name,
                                      users_t.c.active, users_t.c.created_at).order_by(users_t.c.username))
        return [dict(r._mapping) for r in rows]


def set_active(engine: sa.Engine, username: str, active: bool) -> None:
    with writing(engine) as conn:
        res = conn.execute(users_t.update().where(users_t.c.username == username).values(active=active))
        if res.rowcount != 1:
            raise KeyError(username)
        if not active:
            uid = conn.execute(sa.select(users_t.c.user_id).where(users_t.c.username == username)).scalar_one()
            conn.execute(sessions_t.delete().where(sessions_t.c.user_id == uid))


def _throttle_check(conn: sa.Connection, username: str, client: str, now: float) -> None:
    since = now - THROTTLE_WINDOW_S
    base = sa.select(sa.func.count(), sa.func.min(attempts_t.c.ts)).where(attempts_t.c.ts >= since,
                                                                          attempts_t.c.success.is_(False))
    for cond, limit in ((attempts_t.c.username == username, THROTTLE_MAX_PER_USER),
                        (attempts_t.c.client == client, THROTTLE_MAX_PER_IP)):
        n, first = conn.execute(base.where(cond)).one()
        if n >= limit:
            raise Throttled(max(1, int(first + THROTTLE_WINDOW_S - now)))


def login(engine: sa.Engine, username: str, password: str, client: str = "?") -> tuple[str, User]:
    """Check the credentials; return (session token, user). Raises AuthError or Throttled."""
    username = (username or "").strip().lower()[:80]
    now = time.time()
    with writing(engine) as conn:
        _throttle_check(conn, username, client, now)
        row = conn.execute(sa.select(users_t).where(users_t.c.username == username)).first()
    ok = False
    if row is not None and row.active:
        try:
            ok = _hasher.verify(row.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash("timing-equaliser")  # same cost whether or not the user exists
    with writing(engine) as conn:  # the attempt is recorded whatever the outcome
        conn.execute(attempts_t.insert().values(username=username, client=client[:64], ts=now, success=ok))
    if not ok:
        raise AuthError("nome utente o password non corretti")
    with writing(engine) as conn:
        if _hasher.check_needs_rehash(row.password_hash):
            conn.execute(users_t.update().where(users_t.c.user_id == row.user_id)
                         .values(password_hash=_hasher.hash(password)))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        conn.execute(sessions_t.delete().where(sessions_t.c.expires_at < now))
        conn.execute(sessions_t.insert().values(token_hash=_sha(token), user_id=row.user_id, csrf_token=csrf,
                                                expires_at=now + SESSION_HOURS * 3600))
    return token, User(row.user_id, row.username, row.role, row.istat_code, row.full_name, csrf)


def session_user(engine: sa.Engine, token: str | None) -> User | None:
    if not token or len(token) > 200:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(users_t, sessions_t.c.csrf_token, sessions_t.c.expires_at)
            .join(sessions_t, sessions_t.c.user_id == users_t.c.user_id)
            .where(sessions_t.c.token_hash == _sha(token))
        ).first()
    if row is None or not row.active or row.expires_at < time.time():
        return None
    return User(row.user_id, row.username, row.role, row.istat_code, row.full_name, row.csrf_token)


def logout(engine: sa.Engine, token: str | None) -> None:
    if token:
        with writing(engine) as conn:
            conn.execute(sessions_t.delete().where(sessions_t.c.token_hash == _sha(token)))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def session_expiry() -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=SESSION_HOURS)
