"""The stores of one unit of work, in SQL that both backends run.

Every store takes a `Database` (database.py): a connection's statements, awaited. The
SQLite backend (bot/storage/sqlite/) and the PostgreSQL backend (bot/storage/postgres/)
each hand the same stores a connection of their own; what differs between the dialects
is asked of the unit's `Dialect` (dialect.py), handed to the stores that need it.
"""

from __future__ import annotations

from bot.crypto import DataCipher
from bot.storage.sql.blobs import SqlBlobIndex
from bot.storage.sql.console import SqlStaffTx
from bot.storage.sql.core import (
    SqlCitizenStore,
    SqlLookupGuard,
    SqlProcessedStore,
    SqlSessionStore,
)
from bot.storage.sql.database import Database
from bot.storage.sql.dead_letters import SqlDeadLetterStore
from bot.storage.sql.dialect import SQLITE, Dialect
from bot.storage.sql.inbox import SqlInboxStore
from bot.storage.sql.leases import SqlLeaseStore
from bot.storage.sql.media_tokens import SqlMediaTokens
from bot.storage.sql.outbox import SqlOutboxStore
from bot.storage.sql.reply_templates import SqlReplyTemplates
from bot.storage.sql.rotation import SqlRotationStore
from bot.storage.sql.satisfaction import SqlSatisfactionStore
from bot.storage.sql.session_codec import SessionCodec
from bot.storage.sql.staff import SqlStaffStore
from bot.storage.sql.throttle import SqlLoginThrottle
from bot.storage.sql.tickets import SqlTicketStore
from bot.storage.sql.tips import SqlTipStore
from bot.storage.sql.whatsapp_content import SqlContentSids


class SqlTx:
    """The stores of one unit of work, all on the same connection."""

    def __init__(
        self,
        conn: Database,
        cipher: DataCipher,
        dialect: Dialect = SQLITE,
        instance: str | None = None,
    ) -> None:
        self.conn = conn
        self.cipher = cipher
        self.dialect = dialect
        # Several instances: this one's id, written on the rows it marks 'sending'.
        self.instance = instance
        codec = SessionCodec(cipher)  # shared: citizens read sessions, sessions write them
        self.citizens = SqlCitizenStore(conn, cipher, codec, dialect)
        self.sessions = SqlSessionStore(conn, cipher, codec)
        self.processed = SqlProcessedStore(conn)
        self.tickets = SqlTicketStore(conn, cipher, dialect)
        self.lookups = SqlLookupGuard(conn, dialect)
        self.tips = SqlTipStore(conn, cipher, dialect)
        self.outbox = SqlOutboxStore(conn, cipher, dialect, instance)
        self.inbox = SqlInboxStore(conn, cipher)
        self.dead_letters = SqlDeadLetterStore(conn, cipher)
        self.login_throttle = SqlLoginThrottle(conn, dialect)
        self.staff = SqlStaffStore(conn)
        self.rotation = SqlRotationStore(conn, cipher, dialect)
        self.blobs = SqlBlobIndex(conn, cipher)
        self.satisfaction = SqlSatisfactionStore(conn, dialect)
        self.reply_templates = SqlReplyTemplates(conn)
        self.content_sids = SqlContentSids(conn)
        self.media_tokens = SqlMediaTokens(conn, dialect)
        self.leases = SqlLeaseStore(conn, dialect)
        self.for_staff = SqlStaffTx(self)
