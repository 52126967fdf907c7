-- Search (issue 15, docs/search.md): full text over message texts and captions, internal
-- notes and contact name / email / phone.
--
-- What the server offers decides what is installed, here and once: the PostgreSQL of a
-- distribution ships unaccent and pg_trgm (contrib, both "trusted", so a database owner
-- may create them), the embedded pgserver wheel ships neither. Without unaccent the
-- normalisation is lower() alone ("Lucía" then needs its accent); without pg_trgm the
-- contact match is the same LIKE, read without an index. The queries are the same either way.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS unaccent;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'search: unaccent not installed (%); accents must match', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'search: pg_trgm not installed (%); contacts are searched unindexed', SQLERRM;
        END;
    END IF;
END $$;

-- The one normalisation of indexed text and of queries: lower case, accents removed where
-- unaccent exists. Immutable so indexes can use it: unaccent() itself is only stable (its
-- dictionary could be changed), and we never change it. Every name inside the bodies carries
-- its schema, so an index expression means the same under any search_path (PostgreSQL 17
-- runs maintenance with a restricted one); no SET clause, which would stop the inlining.
DO $$
DECLARE
    here TEXT := quote_ident(current_schema());
    home TEXT := (SELECT quote_ident(n.nspname) FROM pg_extension e
                    JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent');
BEGIN
    EXECUTE format(
        'CREATE FUNCTION %s.search_norm(value TEXT) RETURNS TEXT '
        'LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS %L', here,
        CASE WHEN home IS NULL THEN 'SELECT lower(value)'
             ELSE format('SELECT lower(%s.unaccent(%L::regdictionary, value))',
                         home, home || '.unaccent') END);
    -- The words of a text as the index holds them: the `simple` configuration (no stemming,
    -- no stop words: Indonesian and English alike), after search_norm.
    EXECUTE format(
        'CREATE FUNCTION %1$s.search_vector(value TEXT) RETURNS tsvector '
        'LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE '
        'AS $f$ SELECT to_tsvector(''pg_catalog.simple''::regconfig, %1$s.search_norm(value)) $f$',
        here);
    -- A message's searchable text: its text (text, button, template, system messages), body
    -- (interactive) and caption (media). Ids, urls and file names are not searched.
    EXECUTE format(
        'CREATE FUNCTION %s.message_search_text(content JSONB) RETURNS TEXT '
        'LANGUAGE sql IMMUTABLE PARALLEL SAFE '
        'AS $f$ SELECT concat_ws('' '', content ->> ''text'', content ->> ''body'', '
        'content ->> ''caption'') $f$', here);
    -- A contact's searchable text, for substring (trigram) matching.
    EXECUTE format(
        'CREATE FUNCTION %1$s.contact_search_text(name TEXT, email TEXT, phone TEXT) '
        'RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE '
        'AS $f$ SELECT %1$s.search_norm(concat_ws('' '', name, email, phone)) $f$', here);
END $$;

-- One GIN index per searched table, nothing else on the inbound path. Partial: a reaction,
-- a sticker or media without a caption adds no entry. fastupdate stays on (the default), so an
-- inbound batch appends to the pending list and the merge happens in bulk (vacuum or when the
-- list passes gin_pending_list_limit), which is what keeps inbound within its budget.
CREATE INDEX messages_search_idx ON messages
    USING gin (search_vector(message_search_text(content)))
    WHERE content ?| ARRAY['text', 'body', 'caption'];
CREATE INDEX conversation_notes_search_idx ON conversation_notes USING gin (search_vector(body));

DO $$
DECLARE
    home TEXT := (SELECT quote_ident(n.nspname) FROM pg_extension e
                    JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm');
BEGIN
    IF home IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX contacts_search_idx ON contacts '
            'USING gin (contact_search_text(name, email, phone) %s.gin_trgm_ops)', home);
    END IF;
END $$;
