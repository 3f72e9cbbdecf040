#include "cds/service/feedback/feedback.hpp"

#include <boost/json.hpp>

#include "cds/service/cds/json_schema.hpp"

namespace cds::service {

namespace {
std::string string_member(boost::json::object const& o, std::string_view key) {
    if (auto const* v = o.if_contains(key); v != nullptr && v->is_string())
        return std::string{v->get_string()};
    return {};
}
}  // namespace

feedback_parse_result parse_feedback(boost::json::value const& body) {
    feedback_parse_result out;
    auto const* root = body.if_object();
    auto const* list = root != nullptr ? root->if_contains("feedback") : nullptr;
    if (list == nullptr || !list->is_array()) {
        out.error_path = "feedback";
        out.error = "feedback must be an array";
        return out;
    }
    auto const& items = list->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::string const path = append_index("feedback", i);
        auto const* item = items[i].if_object();
        if (item == nullptr) {
            out.error_path = path;
            out.error = path + " must be an object";
            return out;
        }
        feedback_entry entry;
        entry.card = string_member(*item, "card");
        entry.outcome = string_member(*item, "outcome");
        entry.outcome_timestamp = string_member(*item, "outcomeTimestamp");
        if (auto const* accepted = item->if_contains("acceptedSuggestions");
            accepted != nullptr && accepted->is_array()) {
            for (auto const& s : accepted->get_array()) {
                if (auto const* o = s.if_object())
                    entry.accepted_suggestions.push_back(string_member(*o, "id"));
            }
        }
        // CDS Hooks 2.0 Feedback: acceptedSuggestions is required when the outcome is accepted.
        if (entry.outcome == "accepted" && entry.accepted_suggestions.empty()) {
            out.error_path = append_member(path, "acceptedSuggestions");
            out.error = out.error_path + " is required when the outcome is \"accepted\"";
            return out;
        }
        if (auto const* override_reason = item->if_contains("overrideReason");
            override_reason != nullptr) {
            if (auto const* o = override_reason->if_object()) {
                if (auto const* reason = o->if_contains("reason");
                    reason != nullptr && reason->is_object()) {
                    auto const& r = reason->get_object();
                    entry.override_reason =
                        fhir::coding{string_member(r, "system"), string_member(r, "code"),
                                     string_member(r, "display")};
                }
                entry.override_comment = string_member(*o, "userComment");
            }
        }
        out.entries.push_back(std::move(entry));
    }
    return out;
}

}  // namespace cds::service
