-- What the reconciler has stopped asking a vendor about, and why: one campaign, one VDN, or a whole
-- source. An error stops only what it is about (an invalid campaign stops that campaign; only
-- credential errors stop a source). A stop lifts itself when the configuration it was recorded
-- under changes, or after its recheck time, when one call tries again.

CREATE TABLE reconcile_block (
    source      text        NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('source', 'campaign', 'vdn')),
    key         text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,
    fix         text        NOT NULL,
    config_hash text        NOT NULL,
    since       timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    recheck_at  timestamptz NOT NULL,
    PRIMARY KEY (source, scope, key)
);

COMMENT ON TABLE reconcile_block IS 'Campaigns, VDNs or whole sources the reconciler has stopped asking about because the vendor said the configuration is wrong; empty when all is well.';
COMMENT ON COLUMN reconcile_block.source IS 'Reconciler source: ozonetel, huawei, huawei-discovery or leadsquared.';
COMMENT ON COLUMN reconcile_block.scope IS 'source (credentials or URL: nothing of the source is asked), campaign (one Ozonetel campaign or Huawei campaign) or vdn (one Huawei VDN).';
COMMENT ON COLUMN reconcile_block.key IS 'The campaign name or VDN id; empty for scope source.';
COMMENT ON COLUMN reconcile_block.reason IS 'What the vendor said (masked excerpt).';
COMMENT ON COLUMN reconcile_block.fix IS 'What the operator should change, naming the setting.';
COMMENT ON COLUMN reconcile_block.config_hash IS 'Digest of the settings the stop was recorded under; a different digest (the operator changed them) lifts the stop.';
COMMENT ON COLUMN reconcile_block.since IS 'When the vendor first said so (UTC).';
COMMENT ON COLUMN reconcile_block.last_seen_at IS 'When the vendor last said so (UTC).';
COMMENT ON COLUMN reconcile_block.recheck_at IS 'When one call may try again even with unchanged settings, in case the fix was made on the vendor''s side (UTC).';
