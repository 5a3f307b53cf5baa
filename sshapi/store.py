"""The credential store: users (hashed API tokens) and their SSH credentials (private key
encrypted at rest). SQLAlchemy, so SQLite by default and MySQL/MariaDB through a URL."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sshapi.crypto import Box
from sshapi.errors import Conflict, Forbidden, NotFound


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "sshapi_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)


class Credential(Base):
    __tablename__ = "sshapi_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("sshapi_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64))
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    host_key: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class Target:
    """Everything a backend needs to reach one host; `key` identifies it for pooling."""

    key: str
    host: str
    port: int
    username: str
    private_key: bytes = field(repr=False)  # decrypted: never in a repr, log or traceback
    host_key: str
    owner: int = 0  # the API user whose credential this is (pool.py shares slots by owner)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so one SHA-256 is enough (no salt/stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def make_engine(db_url: str) -> Engine:
    """An engine with the tables created; SQLite gets settings safe for threads.

    Raises ValueError with one line (password hidden) if the database cannot be used."""
    try:
        return _make_engine(db_url)
    except (SQLAlchemyError, ImportError) as e:
        try:
            shown = make_url(db_url).render_as_string(hide_password=True)
        except SQLAlchemyError:
            shown = "(unparsable URL)"
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"database {shown} cannot be used: {type(e).__name__}: {first}") from None


def _make_engine(db_url: str) -> Engine:
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url, connect_args={"check_same_thread": False, "timeout": 30})
    else:
        engine = create_engine(db_url, pool_pre_ping=True, pool_recycle=3600)
    Base.metadata.create_all(engine)
    return engine


def add_user(engine: Engine, name: str, new_token_if_exists: bool = False) -> str:
    """Create a user and return its new API token (shown once, stored only hashed). With
    new_token_if_exists, a user of that name gets a new token instead (the old one stops
    working): a deployment against a database that outlives it (MariaDB) has no token file
    of the last one to read, and the user is there already."""
    token = secrets.token_urlsafe(32)
    with Session(engine) as s:
        if new_token_if_exists:
            user = s.scalar(select(User).where(User.name == name))
            if user is not None:
                user.token_sha256 = hash_token(token)
                s.commit()
                return token
        s.add(User(name=name, token_sha256=hash_token(token)))
        try:
            s.commit()
        except IntegrityError:
            raise Conflict(f"user {name!r} already exists", "user_exists") from None
    return token


def user_for_token(engine: Engine, token: str) -> int | None:
    with Session(engine) as s:
        return s.scalar(select(User.id).where(User.token_sha256 == hash_token(token)))


def add_credential(
    engine: Engine, box: Box, user_id: int, fields: dict, max_credentials: int | None = None
) -> None:
    """Save a validated credential; the private key is sealed before it reaches the DB.
    A user already holding `max_credentials` gets 403 too_many_credentials."""
    sealed = box.seal(fields["private_key"].encode())
    with Session(engine) as s:
        if max_credentials is not None:
            held = s.scalar(
                select(func.count()).select_from(Credential).where(Credential.user_id == user_id)
            )
            if held >= max_credentials:
                raise Forbidden(
                    f"you already hold {held} credentials (at most {max_credentials}); "
                    "DELETE one first",
                    "too_many_credentials",
                )
        s.add(
            Credential(
                user_id=user_id,
                name=fields["name"],
                host=fields["host"],
                port=fields["port"],
                username=fields["username"],
                private_key_sealed=sealed,
                host_key=fields["host_key"],
            )
        )
        try:
            s.commit()
        except IntegrityError:
            raise Conflict(
                f"credential {fields['name']!r} already exists; DELETE it first",
                "credential_exists",
            ) from None


def list_credentials(engine: Engine, user_id: int) -> list[dict]:
    with Session(engine) as s:
        rows = s.scalars(
            select(Credential).where(Credential.user_id == user_id).order_by(Credential.name)
        )
        return [
            {
                "name": c.name,
                "host": c.host,
                "port": c.port,
                "username": c.username,
                "host_key": c.host_key,
            }
            for c in rows
        ]


def _own_credential(s: Session, user_id: int, name: str) -> Credential:
    """Another user's credential is reported exactly like a missing one."""
    cred = s.scalar(
        select(Credential).where(Credential.user_id == user_id, Credential.name == name)
    )
    if cred is None:
        raise NotFound(f"no credential named {name!r}", "credential_not_found")
    return cred


def delete_credential(engine: Engine, user_id: int, name: str) -> str:
    """Delete and return the pool key of the deleted credential."""
    with Session(engine) as s:
        cred = _own_credential(s, user_id, name)
        key = _pool_key(cred)
        s.delete(cred)
        s.commit()
        return key


def get_target(engine: Engine, box: Box, user_id: int, name: str) -> Target:
    with Session(engine) as s:
        cred = _own_credential(s, user_id, name)
        return Target(
            key=_pool_key(cred),
            host=cred.host,
            port=cred.port,
            username=cred.username,
            private_key=box.open(cred.private_key_sealed),
            host_key=cred.host_key,
            owner=user_id,
        )


def _pool_key(cred: Credential) -> str:
    """Changes whenever anything about the credential changes, so pools never reuse a
    connection made with outdated details."""
    digest = hashlib.sha256(
        repr(
            (cred.id, cred.host, cred.port, cred.username, cred.host_key, cred.private_key_sealed)
        ).encode()
    ).hexdigest()[:16]
    return f"{cred.id}:{digest}"
