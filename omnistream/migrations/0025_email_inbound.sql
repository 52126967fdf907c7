-- The email channel's IMAP import (issue 16): where each mailbox's import stands.
--
-- UIDs name mails only together with the folder's UIDVALIDITY (a recreated folder numbers
-- its mails anew: the importer then starts over at UID 0 and the Message-ID deduplication,
-- messages_channel_message_key, keeps it from storing anything twice). The cursor moves in
-- the transaction that stores the batch of mails it covers, so a crash at any moment
-- neither loses nor duplicates a mail.
--
-- An email message keeps its Message-ID ("<...>") in messages.channel_message_id and its
-- fields (subject, from, to, cc, text, preview, html, attachments, auto_reply, defects) in
-- messages.content: no new message column.
CREATE TABLE email_import_cursors (
    integration_account_id UUID PRIMARY KEY
                           REFERENCES integration_accounts (id) ON DELETE CASCADE,
    uidvalidity            BIGINT NOT NULL CHECK (uidvalidity >= 0),
    last_uid               BIGINT NOT NULL CHECK (last_uid >= 0),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error             TEXT,           -- the latest connection or import failure; NULL: ok
    last_error_at          TIMESTAMPTZ
);
