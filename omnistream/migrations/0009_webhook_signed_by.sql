-- Which integrations' app secret signed an accepted webhook (all that share it: one Meta app
-- may serve several numbers or pages). The inbound loop applies an item only to an account
-- of one of them. NULL on rows acknowledged before this column existed: applied as before.
ALTER TABLE webhook_audit ADD COLUMN signed_by UUID[];
