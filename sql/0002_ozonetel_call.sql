-- Ozonetel CloudAgent calls, one row per call identity, landed from dial-status and call-details pushes.
-- Keys and field names follow docs/vendors.md §1.1-1.2; the push body itself is not published,
-- so every field we do not map is kept in `extra`.

CREATE TABLE ozonetel_call (
    call_key           text        PRIMARY KEY,
    key_source         text        NOT NULL CHECK (key_source IN ('monitorUCID', 'UCID', 'CallID', 'DataUniqueId', 'derived')),
    monitor_ucid       text,
    ucid               text,
    call_id            text,
    data_unique_id     text,
    request_unique_id  text,
    campaign_name      text,
    phone_number       text,
    caller_id          text,
    dialed_number      text,
    did                text,
    call_type          text,
    status             text,
    dial_status        text,
    agent_status       text,
    customer_status    text,
    disposition        text,
    hangup_by          text,
    agent_id           text,
    agent_name         text,
    agent_phone_number text,
    skill              text,
    location           text,
    user_name          text,
    start_time         timestamptz,
    end_time           timestamptz,
    time_to_answer_s   integer,
    duration_s         integer,
    call_duration_s    integer,
    hold_duration_s    integer,
    wrap_up_duration_s integer,
    audio_file         text,
    transfer_type      text,
    transferred_to     text,
    comments           text,
    uui                text,
    extra              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    source_timezone    text        NOT NULL,
    first_seen_at      timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    seen_count         integer     NOT NULL DEFAULT 1,
    first_raw_id       bigint      NOT NULL,
    last_raw_id        bigint      NOT NULL
);

CREATE INDEX ozonetel_call_campaign_start_idx ON ozonetel_call (campaign_name, start_time);
CREATE INDEX ozonetel_call_request_unique_id_idx ON ozonetel_call (request_unique_id) WHERE request_unique_id IS NOT NULL;

-- Which raw callback carried which call: makes seen_count exact and replays harmless.
CREATE TABLE ozonetel_sighting (
    raw_id       bigint  NOT NULL REFERENCES raw_inbox (id) ON DELETE CASCADE,
    record_index integer NOT NULL,
    call_key     text    NOT NULL,
    PRIMARY KEY (raw_id, record_index)
);
CREATE INDEX ozonetel_sighting_call_key_idx ON ozonetel_sighting (call_key);

COMMENT ON TABLE ozonetel_call IS 'One row per Ozonetel call (or dial-status lead when no call id is pushed); repeats update the row and raise seen_count.';
COMMENT ON COLUMN ozonetel_call.call_key IS 'Identity of the call: monitorUCID, else UCID, else callid:<CallID>, else data:<campaign>:<DataUniqueId>, else derived:<sha256 of campaign|phone|start time> (see README).';
COMMENT ON COLUMN ozonetel_call.key_source IS 'Which rule produced call_key: monitorUCID, UCID, CallID, DataUniqueId or derived.';
COMMENT ON COLUMN ozonetel_call.monitor_ucid IS 'Ozonetel monitorUCID (the monitored call''s unique call id).';
COMMENT ON COLUMN ozonetel_call.ucid IS 'Ozonetel UCID.';
COMMENT ON COLUMN ozonetel_call.call_id IS 'Ozonetel CallID, when pushed.';
COMMENT ON COLUMN ozonetel_call.data_unique_id IS 'Ozonetel DataUniqueId: the campaign data (lead) row id, when pushed.';
COMMENT ON COLUMN ozonetel_call.request_unique_id IS 'uniqueId of the Campaign Dial Status request this push answers, when the push carries it.';
COMMENT ON COLUMN ozonetel_call.campaign_name IS 'Campaign name (CampaignName / campaignName).';
COMMENT ON COLUMN ozonetel_call.phone_number IS 'Customer phone number of the lead (phone / PhoneNumber / customerNumber).';
COMMENT ON COLUMN ozonetel_call.caller_id IS 'CallerID as pushed (the customer number on most calls).';
COMMENT ON COLUMN ozonetel_call.dialed_number IS 'DialedNumber as pushed.';
COMMENT ON COLUMN ozonetel_call.did IS 'DID (the Ozonetel number) as pushed.';
COMMENT ON COLUMN ozonetel_call.call_type IS 'Type: inbound, Manual, Progressive, ... as pushed (mixed case).';
COMMENT ON COLUMN ozonetel_call.status IS 'Status as pushed: Answered / NotAnswered / Unanswered for calls; All/Fail/Success/Pending style values for dial-status leads.';
COMMENT ON COLUMN ozonetel_call.dial_status IS 'DialStatus as pushed (answered, not_answered, user_disconnected, ...).';
COMMENT ON COLUMN ozonetel_call.agent_status IS 'AgentStatus as pushed.';
COMMENT ON COLUMN ozonetel_call.customer_status IS 'CustomerStatus as pushed.';
COMMENT ON COLUMN ozonetel_call.disposition IS 'Disposition chosen by the agent or system.';
COMMENT ON COLUMN ozonetel_call.hangup_by IS 'HangupBy: UserHangup, AgentHangup, SystemHangup.';
COMMENT ON COLUMN ozonetel_call.agent_id IS 'AgentID.';
COMMENT ON COLUMN ozonetel_call.agent_name IS 'AgentName.';
COMMENT ON COLUMN ozonetel_call.agent_phone_number IS 'AgentPhoneNumber.';
COMMENT ON COLUMN ozonetel_call.skill IS 'Skill.';
COMMENT ON COLUMN ozonetel_call.location IS 'Location.';
COMMENT ON COLUMN ozonetel_call.user_name IS 'Ozonetel account user name (UserName).';
COMMENT ON COLUMN ozonetel_call.start_time IS 'StartTime converted from OZONETEL_TIMEZONE (see source_timezone) to UTC.';
COMMENT ON COLUMN ozonetel_call.end_time IS 'EndTime converted from OZONETEL_TIMEZONE (see source_timezone) to UTC.';
COMMENT ON COLUMN ozonetel_call.time_to_answer_s IS 'TimeToAnswer in seconds.';
COMMENT ON COLUMN ozonetel_call.duration_s IS 'Duration in seconds.';
COMMENT ON COLUMN ozonetel_call.call_duration_s IS 'CallDuration in seconds.';
COMMENT ON COLUMN ozonetel_call.hold_duration_s IS 'HoldDuration in seconds.';
COMMENT ON COLUMN ozonetel_call.wrap_up_duration_s IS 'WrapUpDuration in seconds.';
COMMENT ON COLUMN ozonetel_call.audio_file IS 'AudioFile: URL of the recording, NULL when none.';
COMMENT ON COLUMN ozonetel_call.transfer_type IS 'TransferType.';
COMMENT ON COLUMN ozonetel_call.transferred_to IS 'TransferredTo.';
COMMENT ON COLUMN ozonetel_call.comments IS 'Comments entered by the agent.';
COMMENT ON COLUMN ozonetel_call.uui IS 'UUI (user-to-user information) as pushed.';
COMMENT ON COLUMN ozonetel_call.extra IS 'Every pushed field callrecon does not map to a column, as pushed (Apikey replaced by ***).';
COMMENT ON COLUMN ozonetel_call.source_timezone IS 'Time zone the naive vendor times were read in (OZONETEL_TIMEZONE when landed).';
COMMENT ON COLUMN ozonetel_call.first_seen_at IS 'When the first callback carrying this call was received (UTC).';
COMMENT ON COLUMN ozonetel_call.last_seen_at IS 'When the latest callback carrying this call was received (UTC).';
COMMENT ON COLUMN ozonetel_call.seen_count IS 'How many pushed records carried this call (replays do not count).';
COMMENT ON COLUMN ozonetel_call.first_raw_id IS 'raw_inbox.id of the first callback that carried this call.';
COMMENT ON COLUMN ozonetel_call.last_raw_id IS 'raw_inbox.id of the latest callback that carried this call; its values win.';

COMMENT ON TABLE ozonetel_sighting IS 'Which raw callback record carried which Ozonetel call; one row per (callback, record position).';
COMMENT ON COLUMN ozonetel_sighting.raw_id IS 'raw_inbox.id of the callback.';
COMMENT ON COLUMN ozonetel_sighting.record_index IS 'Position of the record in the callback body (0 for a single object).';
COMMENT ON COLUMN ozonetel_sighting.call_key IS 'ozonetel_call.call_key the record landed as.';
