"""The desk assembled from the settings: the ticket store, the mail source and the workflow.

The worker, the operator CLI and the app build their parts here, from one ``Settings`` read at
their edge, so the three always agree on where tickets live and where mail comes from.
"""

from __future__ import annotations

import sqlite3

from core.settings import Settings
from integrations.club_api import ClubApi
from integrations.imap_mailbox import ImapReplyFiling, ImapSettings
from integrations.mail_sending import OutboxSender, SmtpSender, SmtpSettings
from model.active import active_choice
from model.review import DEFAULT_RULE, ReviewRule, read_review_rule
from support.store import StoreFull, TicketStore
from support.trust import TrustPolicy
from support.workflow import Workflow


class StoreUnavailable(RuntimeError):
    """The ticket store cannot be opened (a damaged file, one that is no database): said in words
    for the operator, who restores it or moves it away."""


def open_store(settings: Settings) -> TicketStore:
    """The ticket store; StoreUnavailable, naming the file and what to do, when it cannot be opened."""
    try:
        return TicketStore(settings.store_path, collect_corrections=settings.collect_corrections)
    except StoreFull as full:  # not damaged: moving it away would throw a good store out
        raise StoreUnavailable(f"The ticket store {settings.store_path} cannot be opened: the disk that holds it is "
                               f"full ({full.__cause__}). Free space on it, then start again; the store itself "
                               "need not be damaged, so do not move it away") from None
    except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
        raise StoreUnavailable(f"The ticket store {settings.store_path} cannot be opened ({error}): restore it from "
                               "a backup, or move it away and a new, empty one is made") from None


def build_workflow(store: TicketStore, settings: Settings) -> Workflow | None:
    """The approval-to-reply workflow, or None when no club backend is configured."""
    token = settings.secret("club_api_token")
    if not (settings.club_api_url and token):
        return None
    api = ClubApi(settings.club_api_url, token)
    smtp = SmtpSettings.from_settings(settings)
    imap = ImapSettings.from_settings(settings)
    sender = SmtpSender(smtp) if smtp else OutboxSender(settings.outbox)
    from_address = smtp.from_address if smtp else settings.support_address
    trust = TrustPolicy(authentication_on=bool(settings.trusted_authserv_id),
                        self_service_signup=settings.self_service_signup,
                        move_horizon_days=settings.move_horizon_days)
    return Workflow(store, api, sender, from_address=from_address, mailbox=ImapReplyFiling(imap) if imap else None,
                    trust=trust, review_thresholds=inbox_review_rule(settings).thresholds)


def inbox_review_rule(settings: Settings) -> ReviewRule:
    """The review rule of the model the inbox runs (the promoted adapter's); the default one where
    that adapter's rule cannot be read, as the model itself then refuses to load."""
    try:
        return read_review_rule(active_choice(settings).adapter)
    except ValueError:
        return DEFAULT_RULE
