-- Integrations management (issue 4).

-- Per-account send rate the outbound sender honours (WhatsApp's default throughput is
-- 80 messages/s per number, raised to 1,000 for eligible numbers).
ALTER TABLE integration_accounts
    ADD COLUMN send_rate_per_second INTEGER NOT NULL DEFAULT 80
        CHECK (send_rate_per_second BETWEEN 1 AND 1000);

-- Routing must be unambiguous: one external id (phone_number_id, page id, IG account id,
-- mailbox) belongs to at most one account per channel. The account carries its
-- integration's channel, filled by a trigger so no INSERT has to name it (an integration's
-- channel never changes).
ALTER TABLE integration_accounts ADD COLUMN channel TEXT;
UPDATE integration_accounts a SET channel = i.channel FROM integrations i WHERE i.id = a.integration_id;
ALTER TABLE integration_accounts ALTER COLUMN channel SET NOT NULL;

CREATE FUNCTION integration_accounts_set_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT i.channel INTO NEW.channel FROM integrations i WHERE i.id = NEW.integration_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER integration_accounts_channel
    BEFORE INSERT OR UPDATE OF integration_id ON integration_accounts
    FOR EACH ROW EXECUTE FUNCTION integration_accounts_set_channel();

CREATE UNIQUE INDEX integration_accounts_channel_external_key
    ON integration_accounts (channel, external_id);

-- 'misconfigured': Meta answered, but not with success or an auth failure (wrong id,
-- missing permission, not a Graph API at base_url).
ALTER TABLE integrations DROP CONSTRAINT integrations_health_check;
ALTER TABLE integrations ADD CONSTRAINT integrations_health_check
    CHECK (health IN ('unknown', 'ok', 'auth_failed', 'unreachable', 'misconfigured'));

CREATE INDEX integrations_name_idx ON integrations (name, id);

-- Deleting an account sets conversations.integration_account_id to NULL (ON DELETE SET
-- NULL); without this index every such delete scans all conversations.
CREATE INDEX conversations_integration_account_idx
    ON conversations (integration_account_id) WHERE integration_account_id IS NOT NULL;
