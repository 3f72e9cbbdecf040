#pragma once
// CDS Hooks 2.0 feedback (`POST {baseUrl}/cds-services/{id}/feedback`): the router validates
// the body's shape and hands typed entries to a feedback_sink. Storing feedback (SQLite,
// analytics) is its own issue; the sink is the seam it plugs into.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "cds/fhir/types.hpp"

namespace cds::service {

struct feedback_entry {
    std::string card;     // the card's uuid
    std::string outcome;  // "accepted" | "overridden"
    std::vector<std::string> accepted_suggestions;  // suggestion uuids
    std::optional<fhir::coding> override_reason;    // overrideReason.reason
    // Free text typed by a clinician: may contain patient data, so never logged.
    std::string override_comment;
    std::string outcome_timestamp;  // as sent
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

class feedback_sink {
public:
    virtual ~feedback_sink() = default;
    // Thread-safe. Returns false when the feedback could not be taken (e.g. a full queue);
    // the client then gets 503 and may retry.
    virtual bool record(std::string_view service_id, std::vector<feedback_entry> entries) = 0;
};

}  // namespace cds::service
