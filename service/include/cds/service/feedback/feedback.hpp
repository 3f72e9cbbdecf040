#pragma once
// CDS Hooks 2.0 feedback (`POST {baseUrl}/cds-services/{id}/feedback`): the router validates
// the body's shape and hands typed entries to a feedback_sink, the seam the durable store
// (feedback_store.hpp) plugs into.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>

#include "cds/fhir/types.hpp"

namespace cds::service {

// The rule set that produced the cards the feedback is about, as known when it is received.
struct rule_set_identity {
    std::string id;
    std::string version;
};

struct feedback_entry {
    std::string card;                               // the card's uuid
    std::string outcome;                            // "accepted" | "overridden"
    std::vector<std::string> accepted_suggestions;  // suggestion uuids
    std::optional<fhir::coding> override_reason;    // overrideReason.reason
    // Free text typed by a clinician: may contain patient data, so never logged.
    std::string override_comment;
    std::string outcome_timestamp;  // as sent
    // The rule set being served when the entry was received (the router sets it, so that a
    // reload between two feedback calls is recorded); empty: the store's own default.
    rule_set_identity rule_set;
};

// Reads the entries of a feedback body that already passed the feedback schema.
// `acceptedSuggestions` is required for accepted outcomes (the spec's cds-fb rule); a
// violation returns its element path and message in `error_path`/`error`.
struct feedback_parse_result {
    std::vector<feedback_entry> entries;
    std::string error_path;  // empty on success
    std::string error;
};
[[nodiscard]] feedback_parse_result parse_feedback(boost::json::value const& body);

// What became of one feedback call's entries.
struct feedback_receipt {
    bool stored = false;
    // When not stored: why, in words fit for the client (never feedback data); the client is
    // answered 503 with Retry-After and may send the call again.
    std::string refusal;
};

// Whether the sink can take feedback now, for /readyz (informational: hook calls do not
// need the sink, so its state never makes the service unready).
struct feedback_sink_health {
    std::string status;      // "ok", "busy" (the last call found the store locked), "failing"
    std::size_t queued = 0;  // calls waiting for the store
};

class feedback_sink {
public:
    virtual ~feedback_sink() = default;
    // Thread-safe; never blocks the calling thread. Completes once the entries are durably
    // stored (stored) or refused (e.g. a full queue, a locked store): only then may the
    // client be answered.
    virtual boost::asio::awaitable<feedback_receipt> record(
        std::string service_id, std::vector<feedback_entry> entries) = 0;
    // Nothing when the sink keeps no state worth reporting.
    [[nodiscard]] virtual std::optional<feedback_sink_health> health() const {
        return std::nullopt;
    }
};

}  // namespace cds::service
