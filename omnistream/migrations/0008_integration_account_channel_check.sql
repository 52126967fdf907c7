-- integration_accounts.channel (copied from its integration by a trigger) gets the CHECK every
-- other enumerated channel column has: a bulk load with the trigger off cannot store a typo.
ALTER TABLE integration_accounts
    ADD CONSTRAINT integration_accounts_channel_check
    CHECK (channel IN ('whatsapp', 'instagram', 'email', 'messenger'));
