#pragma once
// Snoozing (CLINICAL-BASIS.md §6): a card a clinician overrode is not shown again for the same
// patient, rule and evidence for the rule set's snooze period (info and warning cards; never
// critical). Applied by the service after evaluation: the rules stay a pure function.
//
// The patient is known across calls only through a keyed hash: HMAC-SHA-256 (RFC 2104) of the
// patient id under a secret, stored with each card in the card ledger (card_ledger.hpp). The
// evidence key is the same HMAC of the references the card's provenance extension lists (the
// magnesium result, the drug order...), sorted, so it is stable across calls and changes when
// a newer result or another drug is used. An override is found through the ledger: feedback
// names only the card uuid, and the ledger row of that uuid holds the two keys.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "cds/rules/rule_set.hpp"
#include "cds/service/feedback/feedback_store.hpp"
#include "cds/service/feedback/store_executor.hpp"

namespace cds::service {

// HMAC-SHA-256 of `message` under `key` (OpenSSL), as 64 lowercase hex digits.
[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// A secret for when none is configured: 32 bytes from OpenSSL's random generator, as hex.
// Throws std::runtime_error when the generator fails (start-up error).
[[nodiscard]] std::string generate_snooze_secret();

// The shortest secret accepted from a file: 32 bytes, HMAC-SHA-256's output length (RFC 2104
// section 3: a shorter key weakens the hash).
inline constexpr std::size_t snooze_secret_min_bytes = 32;

// The references of a card's provenance extension (extension["magnesium-cds"].evidence[]
// .reference), sorted and without repeats; empty when the card lists none.
[[nodiscard]] std::vector<std::string> card_evidence_references(boost::json::object const& card);

class snooze_keys {
public:
    // Throws std::invalid_argument for a secret shorter than snooze_secret_min_bytes.
    explicit snooze_keys(std::string secret);
    [[nodiscard]] std::string patient_key(std::string_view patient_id) const;
    [[nodiscard]] std::string evidence_key(std::vector<std::string> const& references) const;

private:
    std::string secret_;  // never logged
};

// How long a card of this indicator stays hidden after an override: zero for critical (never
// snoozed), for an unknown indicator and when the period is configured as 0.
[[nodiscard]] std::chrono::seconds snooze_period(rules::snooze_periods const& periods,
                                                 std::string_view indicator);

// What snoozing knows of an evaluated card.
struct snooze_candidate {
    std::string rule_id;  // source.topic.code
    std::string evidence_key;
    std::string indicator;
};

// The override that hides the card at `now`: the newest override (`overrides` newest first) of
// the same rule and evidence received less than the card's snooze period before `now`.
[[nodiscard]] std::optional<card_override> suppressing_override(
    snooze_candidate const& card,
    std::vector<card_override> const& overrides,
    rules::snooze_periods const& periods,
    std::chrono::system_clock::time_point now);

// A card evaluated but not returned, and the override it follows.
struct snoozed_card {
    boost::json::object card;
    card_override follows;
    std::chrono::system_clock::time_point until;  // when the card shows again
};

// Moves the cards an override hides out of `cards` (CDS Hooks Card objects, their rule id in
// source.topic.code) and returns them in their order; the others stay in theirs.
[[nodiscard]] std::vector<snoozed_card> take_snoozed(boost::json::array& cards,
                                                     snooze_keys const& keys,
                                                     std::vector<card_override> const& overrides,
                                                     rules::snooze_periods const& periods,
                                                     std::chrono::system_clock::time_point now);

// The "suppressed" member of the explain output: per snoozed card, the card itself, when it
// shows again, and the override it follows (card uuid, time, reason).
[[nodiscard]] boost::json::array render_snoozed(std::vector<snoozed_card> const& snoozed);

struct snooze_options {
    // Longest a hook call waits for the lookup; beyond it (or with a full queue, or a store
    // that cannot be read) the cards are shown: an unanswered lookup never hides a card.
    std::chrono::milliseconds max_wait{250};
    // Lookups that may wait for the store's reader thread.
    std::size_t max_queued = 256;
};

// The lookup side of snoozing for the server: keys and the store's overrides, read on a
// thread of its own (not the feedback writer's, so a lookup never waits behind a write).
class snooze_service {
public:
    snooze_service(snooze_keys keys, std::shared_ptr<feedback_store> store, snooze_options options);

    [[nodiscard]] snooze_keys const& keys() const { return keys_; }

    // The overrides of this patient's cards received within `longest` before `now`, newest
    // first; nothing when the store did not answer in time. Thread-safe.
    [[nodiscard]] boost::asio::awaitable<std::optional<std::vector<card_override>>>
    recent_overrides(std::string patient_key,
                     std::chrono::system_clock::time_point now,
                     std::chrono::seconds longest);

private:
    snooze_keys keys_;
    std::shared_ptr<feedback_store> store_;
    snooze_options options_;
    store_executor executor_;  // declared last: its queued lookups end before the store goes
};

// serve's --snooze-secret-file (environment MAGNESIUM_CDS_SNOOZE_SECRET_FILE).
void add_snooze_options(boost::program_options::options_description& description);

// Snoozing for serve, on `store` (the feedback store): the secret from --snooze-secret-file,
// else the one kept in the store (generated by the first process that needed one). Throws
// std::runtime_error naming the file and what is wrong (start-up error); never the secret.
[[nodiscard]] std::shared_ptr<snooze_service> make_snooze_service(
    boost::program_options::variables_map const& vm, std::shared_ptr<feedback_store> store);

}  // namespace cds::service
