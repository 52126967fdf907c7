"""The IMAP side of the email channel against a real Dovecot (no mocks): the connection check
step by step, import by UID (byte for byte, in order, nothing twice, nothing missed across a
restart of the import), where a first import starts (the last days' mail by INTERNALDATE),
UIDVALIDITY changes, the server restarting under an open mailbox, IDLE and the polling
fallback, and mails staying unread."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from omnistream.channels.email.imap import (
    Backoff,
    CheckResult,
    ImapAuthError,
    ImapFolderError,
    ImapPermanentError,
    ImapSettings,
    ImapSettingsError,
    ImapTransientError,
    ImportCursor,
    Mailbox,
    StartPoint,
    check,
    imap_date,
    is_loopback,
)
from omnistream.channels.email.imap_client import mailbox_name, uid_set
from tests.channels.email.dovecot import Dovecot, MailUser
from tests.processes import free_port


def mail(n: int, subject: str = "Question") -> bytes:
    """A mail as it travels (CRLF line ends), with 8-bit UTF-8 in the body."""
    message = EmailMessage()
    message["From"] = f"Customer {n} <customer{n}@example.com>"
    message["To"] = "support@example.com"
    message["Subject"] = f"{subject} {n}"
    message["Message-ID"] = f"<m{n}.{time.time_ns()}@example.com>"
    message.set_content(f"Halo, pesanan saya #{n} belum sampai. Größe: ü — ✓\n", cte="8bit")
    return message.as_bytes(policy=SMTP)


async def fetch_all(box: Mailbox, after: int, limit: int) -> list[int]:
    """Fetches in batches of `limit` until nothing is left; the UIDs, in fetch order."""
    uids: list[int] = []
    while batch := await box.fetch_after(after, limit):
        uids += [m.uid for m in batch]
        after = batch[-1].uid
    return uids


# --- the connection check ------------------------------------------------------------------


async def test_check_ok(dovecot: Dovecot, mail_user: MailUser) -> None:
    assert await check(dovecot.settings(mail_user)) == CheckResult(True, None, "ok")


async def test_check_wrong_password_fails_at_login(dovecot: Dovecot, mail_user: MailUser) -> None:
    result = await check(dovecot.settings(mail_user, password="not-the-password"))
    assert (result.ok, result.failed_step) == (False, "login")
    assert "Authentication failed" in result.message


async def test_check_missing_folder_fails_at_folder(dovecot: Dovecot, mail_user: MailUser) -> None:
    result = await check(dovecot.settings(mail_user, folder="No Such Folder"))
    assert (result.ok, result.failed_step) == (False, "folder")
    assert "NONEXISTENT" in result.message or "doesn't exist" in result.message


async def test_check_nothing_listening_fails_at_connect() -> None:
    settings = ImapSettings(
        "127.0.0.1", free_port(), "none", "support", "secret", allow_private=True
    )
    result = await check(settings, answer_within=3)
    assert (result.ok, result.failed_step) == (False, "connect")
    assert result.message


async def test_check_silent_server_fails_at_connect_in_time() -> None:
    with socket.socket() as silent:  # accepts (the kernel does) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = ImapSettings("127.0.0.1", port, "none", "support", "x", allow_private=True)
        started = time.monotonic()
        result = await check(settings, answer_within=0.3)
    assert (result.ok, result.failed_step) == (False, "connect")
    assert time.monotonic() - started < 2


async def test_check_implicit_tls_on_a_plain_port_fails_at_tls(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    settings = dovecot.settings(mail_user, tls="implicit")  # the plain port
    result = await check(settings, ssl_context=dovecot.trusting(), answer_within=3)
    assert (result.ok, result.failed_step) == (False, "tls"), result


async def test_check_folder_name_with_spaces_and_accents(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    await dovecot.create_folder("Kundendienst Entwürfe", mail_user)
    result = await check(dovecot.settings(mail_user, folder="Kundendienst Entwürfe"))
    assert result == CheckResult(True, None, "ok")


async def test_implicit_tls_and_starttls(dovecot: Dovecot, mail_user: MailUser) -> None:
    trusting = dovecot.trusting()
    implicit = dovecot.settings(mail_user, tls="implicit", port=dovecot.tls_port)
    starttls = dovecot.settings(mail_user, tls="starttls")
    assert await check(implicit, ssl_context=trusting) == CheckResult(True, None, "ok")
    assert await check(starttls, ssl_context=trusting) == CheckResult(True, None, "ok")
    uid = await dovecot.append(mail(1), mail_user)
    async with Mailbox(starttls, ssl_context=trusting) as box:
        assert [m.uid for m in await box.fetch_after(0, 10)] == [uid]


async def test_untrusted_certificate_fails_at_tls(dovecot: Dovecot, mail_user: MailUser) -> None:
    implicit = dovecot.settings(mail_user, tls="implicit", port=dovecot.tls_port)
    starttls = dovecot.settings(mail_user, tls="starttls")
    for settings in (implicit, starttls):  # the system's trust store: self-signed is refused
        result = await check(settings)
        assert (result.ok, result.failed_step) == (False, "tls"), result
        assert "self-signed" in result.message or "certificate" in result.message
    with pytest.raises(ImapPermanentError):
        async with Mailbox(implicit):
            pass


# --- settings ------------------------------------------------------------------------------


def test_tls_none_only_on_loopback() -> None:
    with pytest.raises(ImapSettingsError) as refused:
        ImapSettings("mail.example.com", 143, "none", "support", "secret")
    assert refused.value.field == "tls" and "loopback" in str(refused.value)
    assert isinstance(refused.value, ValueError)
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host)
        ImapSettings(host, 143, "none", "support", "secret")
    for host in ("10.0.0.1", "192.168.1.2", "localhost.example.com", "::2"):
        assert not is_loopback(host)
    ImapSettings("mail.example.com", 993, "implicit", "support", "secret")  # fine with TLS
    with pytest.raises(ImapSettingsError) as bad_port:
        ImapSettings("mail.example.com", 0, "implicit", "support", "secret")
    assert bad_port.value.field == "port"
    with pytest.raises(ImapSettingsError) as injected:
        ImapSettings("localhost", 143, "none", "support", "x\r\nA1 DELETE INBOX")
    assert injected.value.field == "password"
    assert "secret" not in repr(ImapSettings("localhost", 143, "none", "support", "secret"))


def test_mailbox_names_and_uid_sets() -> None:
    assert mailbox_name("INBOX") == '"INBOX"'
    assert mailbox_name("[Gmail]/All Mail") == '"[Gmail]/All Mail"'
    assert (
        mailbox_name("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
    )  # RFC 3501
    assert mailbox_name("A&B") == '"A&-B"'
    assert uid_set([9, 1, 2, 3, 7, 10]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"


# --- importing by UID ----------------------------------------------------------------------


async def test_fetch_after_returns_mails_byte_for_byte_in_uid_order_once(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    raws = [mail(n) for n in range(3)]
    uids = await dovecot.append_all(raws, mail_user)
    async with Mailbox(dovecot.settings(mail_user)) as box:
        fetched = await box.fetch_after(0, limit=10)
        assert [m.uid for m in fetched] == uids == sorted(uids)
        assert [m.raw for m in fetched] == raws
        # After the last UID: nothing, although "UID SEARCH UID n:*" answers the last mail.
        assert await box.fetch_after(uids[-1], limit=10) == []
        assert await box.fetch_after(uids[-1] + 100, limit=10) == []
        # A new arrival: only it.
        fourth = await dovecot.append(mail(3), mail_user)
        assert [m.uid for m in await box.fetch_after(uids[-1], limit=10)] == [fourth]
        # The limit takes the oldest first.
        assert [m.uid for m in await box.fetch_after(0, limit=2)] == uids[:2]
        assert [m.uid for m in await box.fetch_after(uids[1], limit=2)] == [uids[2], fourth]


def test_backfill_days_and_search_dates() -> None:
    assert ImapSettings("localhost", 143, "none", "support", "secret").backfill_days == 7
    for bad in (-1, 3651):
        with pytest.raises(ImapSettingsError) as refused:
            ImapSettings("localhost", 143, "none", "support", "secret", backfill_days=bad)
        assert refused.value.field == "backfill_days"
    assert (imap_date(date(2026, 12, 1)), imap_date(date(2027, 1, 31))) == (
        "1-Dec-2026",
        "31-Jan-2027",
    )


async def test_a_first_import_starts_before_the_recent_mail(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    """By INTERNALDATE: the last 7 days' mail (by default) and everything above it; an old
    mail moved in later (old date, new UID) is above the start and does not hide the recent
    mail below it. 0 days: after the highest UID. Nothing is fetched to find the start."""
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert await box.start_point() == StartPoint(0, 0)  # an empty folder
    old = [await dovecot.append_dated(mail(n), mail_user, days_ago=30 + n) for n in range(2)]
    recent = await dovecot.append_dated(mail(2), mail_user, days_ago=2)
    today = await dovecot.append(mail(3), mail_user)
    moved = await dovecot.append_dated(mail(4), mail_user, days_ago=400)
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert await box.start_point() == StartPoint(old[-1], 2)
        assert await fetch_all(box, old[-1], limit=10) == [recent, today, moved]
    for days, expected in ((0, StartPoint(moved, 5)), (60, StartPoint(old[0] - 1, 0))):
        async with Mailbox(dovecot.settings(mail_user, backfill_days=days)) as box:
            assert await box.start_point() == expected, days
    assert await dovecot.flags(recent, mail_user) == set()  # still unread


async def test_restart_in_the_middle_of_an_import(dovecot: Dovecot, mail_user: MailUser) -> None:
    """Fetch some, stop, mail arrives meanwhile, start again from the stored cursor: every mail
    exactly once, in order."""
    uids = await dovecot.append_all([mail(n) for n in range(7)], mail_user)
    imported: list[int] = []
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert box.resume_after(None) == 0
        for fetched in await box.fetch_after(0, limit=3):
            imported.append(fetched.uid)
            cursor = ImportCursor(box.uidvalidity, fetched.uid)  # what the worker persists
    uids += await dovecot.append_all([mail(n) for n in range(7, 9)], mail_user)
    async with Mailbox(dovecot.settings(mail_user)) as box:
        after = box.resume_after(cursor)
        assert after == imported[-1]
        imported += await fetch_all(box, after, limit=2)
    assert imported == uids and len(set(imported)) == 9


async def test_uidvalidity_change_is_detected(dovecot: Dovecot, mail_user: MailUser) -> None:
    await dovecot.create_folder("Support", mail_user)
    await dovecot.append_all([mail(1), mail(2)], mail_user, "Support")
    settings = dovecot.settings(mail_user, folder="Support")
    async with Mailbox(settings) as box:
        assert box.uidvalidity == await dovecot.uidvalidity(mail_user, "Support")
        fetched = await box.fetch_after(0, limit=10)
        cursor = ImportCursor(box.uidvalidity, fetched[-1].uid)
    await dovecot.recreate_folder("Support", mail_user)
    recreated = mail(3, "After the folder was recreated")
    new_uid = await dovecot.append(recreated, mail_user, "Support")
    assert new_uid <= cursor.last_uid  # continuing after the old UID would miss it
    async with Mailbox(settings) as box:
        assert box.uidvalidity != cursor.uidvalidity
        assert box.resume_after(cursor) == 0
        assert [m.raw for m in await box.fetch_after(box.resume_after(cursor), 10)] == [recreated]


async def test_mails_stay_unseen(dovecot: Dovecot, mail_user: MailUser) -> None:
    uid = await dovecot.append(mail(1), mail_user)
    assert await check(dovecot.settings(mail_user)) == CheckResult(True, None, "ok")
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert len(await box.fetch_after(0, 10)) == 1
    assert "\\Seen" not in await dovecot.flags(uid, mail_user)


# --- failures and reconnection -------------------------------------------------------------


async def test_server_restart_under_an_open_mailbox(own_dovecot: Dovecot) -> None:
    user = own_dovecot.add_user()
    first = await own_dovecot.append(mail(1), user)
    settings = own_dovecot.settings(user)
    backoff = Backoff(first=0.05, cap=1, rng=random.Random(7))
    async with Mailbox(settings) as box:
        assert [m.uid for m in await box.fetch_after(0, 10)] == [first]
        await asyncio.to_thread(own_dovecot.restart)
        started = time.monotonic()
        with pytest.raises(ImapTransientError) as lost:
            await box.fetch_after(first, 10)
        assert time.monotonic() - started < 2  # noticed at once, not after a timeout
        assert not lost.value.permanent
        delay = backoff.next_delay(lost.value)
        assert 0.025 <= delay <= 0.05
        with pytest.raises(ImapTransientError):  # and stays broken: a new Mailbox is needed
            await box.wait_for_news(1)
    await asyncio.sleep(delay)
    second = await own_dovecot.append(mail(2), user)
    async with Mailbox(settings) as box:
        assert [m.uid for m in await box.fetch_after(first, 10)] == [second]
    backoff.reset()
    assert backoff.failures == 0


async def test_server_down_is_transient_and_wrong_password_permanent(own_dovecot: Dovecot) -> None:
    user = own_dovecot.add_user()
    with pytest.raises(ImapAuthError) as refused:
        async with Mailbox(own_dovecot.settings(user, password="wrong")):
            pass
    assert refused.value.permanent and refused.value.step == "login"
    with pytest.raises(ImapFolderError) as missing:
        async with Mailbox(own_dovecot.settings(user, folder="Nope")):
            pass
    assert missing.value.permanent and missing.value.step == "folder"
    own_dovecot.stop()
    with pytest.raises(ImapTransientError) as down:
        async with Mailbox(own_dovecot.settings(user)):
            pass
    assert down.value.step == "connect"
    backoff = Backoff(rng=random.Random(1))
    assert 450 <= backoff.next_delay(refused.value) <= 900  # no hammering of a refused login


def test_backoff_doubles_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(rng=random.Random(3))
    delays = [backoff.next_delay(OSError("down")) for _ in range(9)]
    for delay, full in zip(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60], strict=True):
        assert full / 2 <= delay <= full
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1


# --- waiting for new mail ------------------------------------------------------------------


async def test_idle_returns_soon_after_an_append(dovecot: Dovecot, mail_user: MailUser) -> None:
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert box.uses_idle
        waiting = asyncio.create_task(box.wait_for_news(10))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        started = time.monotonic()
        uid = await dovecot.append(mail(1), mail_user)
        assert await waiting is True
        assert time.monotonic() - started < 2
        assert [m.uid for m in await box.fetch_after(0, 10)] == [uid]  # usable after IDLE


async def test_idle_times_out_without_news(dovecot: Dovecot, mail_user: MailUser) -> None:
    await dovecot.append(mail(1), mail_user)  # old mail is no news
    async with Mailbox(dovecot.settings(mail_user)) as box:
        started = time.monotonic()
        assert await box.wait_for_news(0.4) is False
        assert 0.35 <= time.monotonic() - started < 3
        assert len(await box.fetch_after(0, 10)) == 1  # usable after IDLE


async def test_a_cancelled_wait_closes_the_connection(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    """Cancelled mid-IDLE (a worker shutting down, a timeout around it): the connection is
    closed rather than left in IDLE; later calls fail as transient, closing does not hang."""
    async with Mailbox(dovecot.settings(mail_user)) as box:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(box.wait_for_news(10), 0.2)
        with pytest.raises(ImapTransientError):
            await box.fetch_after(0, 10)


async def test_news_announced_during_a_fetch_is_not_lost(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    """aioimaplib drops an EXISTS that comes with another command's answer; the mailbox still
    sees it, so the next wait returns at once instead of at the next poll or timeout."""
    first, second = await dovecot.append_all([mail(1), mail(2)], mail_user)
    async with Mailbox(dovecot.settings(mail_user)) as box:
        assert [m.uid for m in await box.fetch_after(0, limit=1)] == [first]
        third = await dovecot.append(mail(3), mail_user)
        # Served from the last SEARCH: a FETCH only, whose answer announces the third mail.
        assert [m.uid for m in await box.fetch_after(first, limit=1)] == [second]
        started = time.monotonic()
        assert await box.wait_for_news(10) is True
        assert time.monotonic() - started < 2  # not the 10 s
        assert [m.uid for m in await box.fetch_after(second, limit=10)] == [third]


async def test_polling_without_idle(dovecot: Dovecot, mail_user: MailUser) -> None:
    settings = dovecot.settings(mail_user)
    async with Mailbox(settings, use_idle=False, poll_interval=0.1) as box:
        assert not box.uses_idle
        assert await box.wait_for_news(0.3) is False
        waiting = asyncio.create_task(box.wait_for_news(10))
        await asyncio.sleep(0.15)
        started = time.monotonic()
        await dovecot.append(mail(1), mail_user)
        assert await waiting is True
        assert time.monotonic() - started < 3
