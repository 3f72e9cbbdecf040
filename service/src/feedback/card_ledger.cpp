#include "cds/service/feedback/card_ledger.hpp"

#include <boost/json.hpp>

#include "cds/service/feedback/snooze.hpp"

namespace cds::service {

namespace {

std::string string_at(boost::json::object const& object, std::string_view key) {
    auto const* value = object.if_contains(key);
    return value != nullptr && value->is_string() ? std::string{value->get_string()}
                                                  : std::string{};
}

}  // namespace

std::vector<ledger_card> ledger_cards_from(boost::json::array const& cards,
                                           ledger_call const& call) {
    std::vector<ledger_card> out;
    out.reserve(cards.size());
    for (auto const& value : cards) {
        auto const* card = value.if_object();
        if (card == nullptr) continue;
        ledger_card entry;
        entry.card_uuid = string_at(*card, "uuid");
        if (entry.card_uuid.empty()) continue;
        entry.service_id = call.service_id;
        entry.hook = call.hook;
        entry.rule_set_id = call.rule_set_id;
        entry.rule_set_version = call.rule_set_version;
        entry.client_iss = call.client_iss;
        entry.issued_at = call.issued_at;
        entry.indicator = string_at(*card, "indicator");
        if (call.keys != nullptr) {
            entry.patient_key = call.patient_key;
            entry.evidence_key = call.keys->evidence_key(card_evidence_references(*card));
        }
        // CDS Hooks 2.0 Card.source.topic: this service puts the rule id in its code.
        if (auto const* source = card->if_contains("source");
            source != nullptr && source->is_object()) {
            if (auto const* topic = source->get_object().if_contains("topic");
                topic != nullptr && topic->is_object()) {
                entry.rule_id = string_at(topic->get_object(), "code");
            }
        }
        if (auto const* suggestions = card->if_contains("suggestions");
            suggestions != nullptr && suggestions->is_array()) {
            for (auto const& suggestion : suggestions->get_array()) {
                if (!suggestion.is_object()) continue;
                if (auto uuid = string_at(suggestion.get_object(), "uuid"); !uuid.empty()) {
                    entry.suggestion_uuids.push_back(std::move(uuid));
                }
            }
        }
        out.push_back(std::move(entry));
    }
    return out;
}

}  // namespace cds::service
