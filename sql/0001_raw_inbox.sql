-- The raw inbox: every authenticated callback, stored before callrecon answers.
-- Landing code parses these rows into the typed vendor tables; a row that cannot be parsed stays
-- here, quarantined, until `callrecon replay` re-parses it after a parser fix.

CREATE TABLE raw_inbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,
    client_addr   inet,
    content_type  text,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    body          bytea       NOT NULL,
    body_sha256   text        NOT NULL,
    body_bytes    integer     NOT NULL,
    status        text        NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'landed', 'quarantined', 'note')),
    record_count  integer     NOT NULL DEFAULT 0,
    landed_count  integer     NOT NULL DEFAULT 0,
    error         jsonb,
    parsed_at     timestamptz,
    parse_count   integer     NOT NULL DEFAULT 0
);

CREATE INDEX raw_inbox_source_received_idx ON raw_inbox (source, received_at);
CREATE INDEX raw_inbox_unlanded_idx ON raw_inbox (status, id) WHERE status <> 'landed';

COMMENT ON TABLE raw_inbox IS 'Every authenticated vendor callback exactly as received (secrets masked), committed before the HTTP reply; the source of truth that typed tables are parsed from.';
COMMENT ON COLUMN raw_inbox.id IS 'Sequential id of the callback; typed rows point back to it.';
COMMENT ON COLUMN raw_inbox.received_at IS 'When callrecon received the request (UTC).';
COMMENT ON COLUMN raw_inbox.source IS 'Vendor the callback came from, from the URL: ozonetel (later also huawei).';
COMMENT ON COLUMN raw_inbox.client_addr IS 'Address of the HTTP client as seen by callrecon (the proxy''s address when behind one).';
COMMENT ON COLUMN raw_inbox.content_type IS 'Content-Type header of the request, as sent.';
COMMENT ON COLUMN raw_inbox.headers IS 'Request headers, minus credentials (Authorization, Cookie, API-key headers are replaced by ***).';
COMMENT ON COLUMN raw_inbox.body IS 'Request body bytes with secrets (Ozonetel Apikey values) replaced by ***; read it with convert_from(body, ''UTF8'') or the raw_inbox_text view.';
COMMENT ON COLUMN raw_inbox.body_sha256 IS 'Hex SHA-256 of the stored (masked) body; equal hashes mean identical pushes.';
COMMENT ON COLUMN raw_inbox.body_bytes IS 'Length of the body as received, in bytes.';
COMMENT ON COLUMN raw_inbox.status IS 'received (not parsed yet), landed (every record is in its typed table), quarantined (some or all records could not be parsed: see error), note (a vendor notice with no call data, kept on purpose).';
COMMENT ON COLUMN raw_inbox.record_count IS 'Number of records the body held (0 when it could not be decoded).';
COMMENT ON COLUMN raw_inbox.landed_count IS 'Number of those records that landed in the typed table.';
COMMENT ON COLUMN raw_inbox.error IS 'Why parsing failed: {"message": ..., "records": {"<index>": errors}}; null when landed.';
COMMENT ON COLUMN raw_inbox.parsed_at IS 'When the body was last parsed (UTC); replays update it.';
COMMENT ON COLUMN raw_inbox.parse_count IS 'How many times the body has been parsed (1 on arrival, +1 per replay).';

-- Readable body for people: NULL instead of an error when the bytes are not UTF-8.
CREATE FUNCTION callrecon_utf8_or_null(b bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION callrecon_utf8_or_null(bytea) IS 'The bytes as UTF-8 text, or NULL when they are not valid UTF-8.';

CREATE VIEW raw_inbox_text AS
SELECT id, received_at, source, client_addr, content_type, headers,
       callrecon_utf8_or_null(body) AS body_text, body_sha256, body_bytes,
       status, record_count, landed_count, error, parsed_at, parse_count
FROM raw_inbox;

COMMENT ON VIEW raw_inbox_text IS 'raw_inbox with the body as text, for reading quarantined callbacks in psql.';
COMMENT ON COLUMN raw_inbox_text.id IS 'See raw_inbox.id.';
COMMENT ON COLUMN raw_inbox_text.received_at IS 'See raw_inbox.received_at.';
COMMENT ON COLUMN raw_inbox_text.source IS 'See raw_inbox.source.';
COMMENT ON COLUMN raw_inbox_text.client_addr IS 'See raw_inbox.client_addr.';
COMMENT ON COLUMN raw_inbox_text.content_type IS 'See raw_inbox.content_type.';
COMMENT ON COLUMN raw_inbox_text.headers IS 'See raw_inbox.headers.';
COMMENT ON COLUMN raw_inbox_text.body_text IS 'The masked body as UTF-8 text; NULL when it is not valid UTF-8 (then read raw_inbox.body).';
COMMENT ON COLUMN raw_inbox_text.body_sha256 IS 'See raw_inbox.body_sha256.';
COMMENT ON COLUMN raw_inbox_text.body_bytes IS 'See raw_inbox.body_bytes.';
COMMENT ON COLUMN raw_inbox_text.status IS 'See raw_inbox.status.';
COMMENT ON COLUMN raw_inbox_text.record_count IS 'See raw_inbox.record_count.';
COMMENT ON COLUMN raw_inbox_text.landed_count IS 'See raw_inbox.landed_count.';
COMMENT ON COLUMN raw_inbox_text.error IS 'See raw_inbox.error.';
COMMENT ON COLUMN raw_inbox_text.parsed_at IS 'See raw_inbox.parsed_at.';
COMMENT ON COLUMN raw_inbox_text.parse_count IS 'See raw_inbox.parse_count.';
