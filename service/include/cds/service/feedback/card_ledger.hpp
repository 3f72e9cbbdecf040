#pragma once
// The card ledger: a record of every card the service returned, so that feedback (which names
// only a card uuid) can be attributed to the rule and rule-set version that issued the card
// (`feedback-report --by rule`).
//
// What is recorded, per card: its uuid, the service and hook, the rule id (the card's
// source.topic code), the rule set id and version, the indicator, the suggestion uuids, when
// it was issued and, for an authenticated call, the client's `iss`. Never a clinical value and
// never a patient identifier: the card's text is not kept. The store has two empty columns,
// a keyed patient hash and an evidence key, for snoozing to fill.
//
// Best-effort, unlike feedback: recording never blocks a hook call. The cards are queued for
// the feedback store's writer thread; when the queue is full they are dropped and counted
// (warning in the log, count in /readyz). Because the same single writer thread takes
// feedback calls in queue order, feedback sent after a card was returned is stored after
// that card's ledger entry, even one still queued when the feedback arrived.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace cds::service {

class snooze_keys;  // snooze.hpp

struct ledger_card {
    std::string card_uuid;
    std::string service_id;
    std::string hook;
    std::string rule_id;  // source.topic.code
    std::string rule_set_id;
    std::string rule_set_version;
    std::string indicator;
    std::vector<std::string> suggestion_uuids;
    std::string client_iss;  // empty when the call was not authenticated
    std::chrono::system_clock::time_point issued_at;
    // HMAC-SHA-256 (hex) of the patient id and of the card's evidence references (snooze.hpp);
    // empty when snoozing is off.
    std::string patient_key;
    std::string evidence_key;
    // A card that was evaluated but not shown because a clinician overrode the same card
    // (same patient, rule and evidence) within its snooze period: the uuid of that
    // overridden card. Empty for a card the service returned.
    std::string suppressed_by;
};

// What a hook call knows about the cards it returns, beyond the cards themselves.
struct ledger_call {
    std::string_view service_id;
    std::string_view hook;
    std::string_view rule_set_id;
    std::string_view rule_set_version;
    std::string_view client_iss;
    std::chrono::system_clock::time_point issued_at;
    // With snoozing on: the keys, and the patient's key (each card's evidence key is made
    // from its provenance extension). Null: the two keys stay empty.
    snooze_keys const* keys = nullptr;
    std::string_view patient_key;
};

// The ledger entries of a response's `cards` array (CDS Hooks 2.0 Card objects); a card
// without a uuid cannot receive feedback and is left out. Reads identifiers only.
[[nodiscard]] std::vector<ledger_card> ledger_cards_from(boost::json::array const& cards,
                                                         ledger_call const& call);

struct card_ledger_health {
    std::size_t queued = 0;  // hook calls whose cards wait for the writer
    std::uint64_t dropped =
        0;  // hook calls whose cards were not recorded (queue full, store failure)
};

class card_ledger {
public:
    virtual ~card_ledger() = default;
    // Queues the cards of one hook call; never blocks and never throws. Thread-safe.
    virtual void record(std::vector<ledger_card> cards) = 0;
    [[nodiscard]] virtual card_ledger_health ledger_health() const = 0;
};

}  // namespace cds::service
