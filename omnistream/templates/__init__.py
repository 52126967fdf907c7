"""WhatsApp message templates: sync from Meta, live status, list and detail, template sends."""
