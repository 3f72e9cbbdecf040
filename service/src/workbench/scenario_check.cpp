// The expected.json format of fixtures/scenarios/README.md: each expectation checked against
// the service's response, and the CDS Hooks 2.0 / CLINICAL-BASIS.md §3 and §5 properties every
// response must have. Text comparisons are case-insensitive substrings.

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "cds/service/workbench/workbench.hpp"
#include "fhir_measures.hpp"

namespace cds::service::workbench {

namespace {

using namespace measures;
using problems = std::vector<std::string>;

std::set<std::string> const top_keys{"description",
                                     "now",
                                     "rules",
                                     "rules_patch",
                                     "cards",
                                     "card_count",
                                     "cards_suggesting",
                                     "no_suggestion_codes",
                                     "error",
                                     "covers"};
std::set<std::string> const card_keys{"indicator",
                                      "summary_contains",
                                      "summary_not_contains",
                                      "detail_contains",
                                      "detail_contains_any",
                                      "detail_not_contains",
                                      "text_contains",
                                      "text_contains_any",
                                      "text_not_contains",
                                      "selection_behavior",
                                      "suggestion_count",
                                      "suggestions",
                                      "any_action",
                                      "no_suggestion_codes",
                                      "no_suggestions",
                                      "source_label_contains",
                                      "override_reasons_contain",
                                      "rule"};
std::set<std::string> const suggestion_keys{"label_contains", "text_contains", "is_recommended",
                                            "action_count", "actions"};
std::set<std::string> const action_keys{"type",
                                        "resource_type",
                                        "resource_id",
                                        "codes",
                                        "codes_any",
                                        "text_contains",
                                        "text_contains_any",
                                        "route",
                                        "dose",
                                        "frequency_per_day",
                                        "at_bedtime",
                                        "infusion_minutes",
                                        "max_rate_mg_per_min",
                                        "occurrence_after_now",
                                        "occurrence_tolerance",
                                        "dosage_text_contains"};
std::set<std::string> const indicators{"info", "warning", "critical"};

void check_keys(value const* v,
                std::set<std::string> const& allowed,
                std::string const& where,
                problems& out) {
    if (v == nullptr || !v->is_object()) {
        out.push_back(where + ": expected an object");
        return;
    }
    for (auto const& [key, _] : v->get_object()) {
        if (!allowed.contains(std::string{key}))
            out.push_back(where + ": unknown key '" + std::string{key} + "'");
    }
}

std::vector<std::string> lower_list(value const* v) {
    std::vector<std::string> out;
    if (v == nullptr || v->is_null()) return out;
    if (v->is_array()) {
        for (auto const& x : v->get_array()) out.push_back(lower(text(&x)));
    } else {
        out.push_back(lower(text(v)));
    }
    return out;
}

bool contains(std::string const& haystack, std::string const& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string number_text(double v) {
    char buffer[64];
    auto const end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
    return std::string(buffer, end);
}

std::optional<fhir::instant> instant_of(std::string const& t) {
    auto const parsed = fhir::parse_date_time(t);
    if (!parsed.value) return std::nullopt;
    return parsed.value->start;
}

using matcher = std::function<problems(value const&, value const&)>;

// Every expectation matched to a distinct item (Kuhn's augmenting paths).
problems bipartite(array const& expectations,
                   std::vector<value const*> const& items,
                   matcher const& check) {
    std::vector<std::vector<problems>> reasons(expectations.size());
    for (std::size_t i = 0; i < expectations.size(); ++i) {
        for (auto const* item : items) reasons[i].push_back(check(expectations[i], *item));
    }
    std::vector<int> owner(items.size(), -1);
    std::function<bool(std::size_t, std::vector<bool>&)> augment = [&](std::size_t i,
                                                                       std::vector<bool>& seen) {
        for (std::size_t j = 0; j < items.size(); ++j) {
            if (!reasons[i][j].empty() || seen[j]) continue;
            seen[j] = true;
            if (owner[j] == -1 || augment(static_cast<std::size_t>(owner[j]), seen)) {
                owner[j] = static_cast<int>(i);
                return true;
            }
        }
        return false;
    };
    problems out;
    for (std::size_t i = 0; i < expectations.size(); ++i) {
        std::vector<bool> seen(items.size(), false);
        if (augment(i, seen)) continue;
        if (items.empty()) {
            out.push_back("expectation #" + std::to_string(i + 1) + ": nothing to match");
            continue;
        }
        std::string detail;
        for (std::size_t j = 0; j < items.size(); ++j) {
            std::string why;
            for (auto const& r : reasons[i][j]) why += (why.empty() ? "" : " / ") + r;
            if (why.empty()) why = "matches, but is taken by another expectation";
            detail +=
                (detail.empty() ? "" : "; ") + ("[#" + std::to_string(j + 1) + ": " + why + "]");
        }
        out.push_back("expectation #" + std::to_string(i + 1) + " matched none: " + detail);
    }
    return out;
}

std::vector<value const*> objects_in(array const& a) {
    std::vector<value const*> out;
    for (auto const& v : a) {
        if (v.is_object()) out.push_back(&v);
    }
    return out;
}

std::string codes_text(std::set<std::string> const& codes) {
    std::string out;
    for (auto const& c : codes) {
        if (!contains(c, "|")) out += (out.empty() ? "" : ", ") + c;
    }
    return "[" + out + "]";
}

void check_action_codes(value const& exp, value const& resource, problems& r) {
    auto const codes = codes_of(resource);
    for (auto const& code : array_at(&exp, "codes")) {
        if (!codes.contains(text(&code)))
            r.push_back("code " + text(&code) + " missing (has " + codes_text(codes) + ")");
    }
    auto const& any = array_at(&exp, "codes_any");
    if (!any.empty() && std::none_of(any.begin(), any.end(),
                                     [&](value const& c) { return codes.contains(text(&c)); })) {
        r.push_back("none of codes " + boost::json::serialize(any) + " (has " + codes_text(codes) +
                    ")");
    }
    auto const concept_words = concept_text(resource);
    for (auto const& t : lower_list(field(&exp, "text_contains"))) {
        if (!contains(concept_words, t))
            r.push_back("text '" + concept_words + "' lacks '" + t + "'");
    }
    auto const any_text = lower_list(field(&exp, "text_contains_any"));
    if (!any_text.empty() && std::none_of(any_text.begin(), any_text.end(), [&](auto const& t) {
            return contains(concept_words, t);
        })) {
        r.push_back("text '" + concept_words + "' has none of " +
                    text(field(&exp, "text_contains_any")));
    }
}

void check_action_dose(value const& exp, value const* dosage, problems& r) {
    auto const* want = field(&exp, "dose");
    if (want == nullptr) return;
    auto const* q = dose_quantity(dosage);
    auto const got_mg = mass_mg(q);
    auto const want_mg = mass_mg(want);
    std::string const got_text = text(field(q, "value")) + " " + quantity_unit(q);
    std::string const want_text = text(field(want, "value")) + " " + text(field(want, "unit"));
    if (q == nullptr) {
        r.push_back("no structured doseQuantity");
    } else if (got_mg && want_mg) {
        if (std::abs(*got_mg - *want_mg) > 1e-6 * std::max(std::abs(*got_mg), std::abs(*want_mg))) {
            r.push_back("dose " + got_text + " != " + want_text);
        }
    } else if (number(field(q, "value")) != number(field(want, "value")) ||
               lower(quantity_unit(q)) != lower(text(field(want, "unit")))) {
        r.push_back("dose " + got_text + " != " + want_text);
    }
}

void check_action_timing(value const& exp, value const* dosage, problems& r) {
    if (auto const want = number(field(&exp, "frequency_per_day"))) {
        auto const f = frequency_per_day(dosage);
        if (!f || std::abs(*f - *want) > 1e-6 * std::abs(*want)) {
            r.push_back("frequency per day " + (f ? number_text(*f) : "none") +
                        " != " + number_text(*want));
        }
    }
    if (auto const* bedtime = field(&exp, "at_bedtime");
        bedtime != nullptr && bedtime->is_bool() && bedtime->get_bool()) {
        auto const* timing = field(dosage, "timing");
        bool at_night = false;
        for (auto const& w : array_at(field(timing, "repeat"), "when"))
            at_night = at_night || text(&w) == "HS";
        for (auto const& c : array_at(field(timing, "code"), "coding"))
            at_night = at_night || text(field(&c, "code")) == "HS";
        auto const dosage_text = lower(text(field(dosage, "text")));
        if (!(at_night || contains(dosage_text, "bedtime") || contains(dosage_text, "night"))) {
            r.push_back("not at bedtime (dosage text '" + text(field(dosage, "text")) + "')");
        }
    }
    if (auto const want = number(field(&exp, "infusion_minutes"))) {
        auto const m = infusion_minutes(dosage);
        if (!m || std::abs(*m - *want) > 0.5) {
            r.push_back("infusion time " + (m ? number_text(*m) : "none") +
                        " min != " + number_text(*want) + " min");
        }
    }
    if (auto const max_rate = number(field(&exp, "max_rate_mg_per_min"))) {
        auto const rate = infusion_rate_mg_per_min(dosage);
        if (!rate) {
            r.push_back(
                "infusion rate not computable (needs a mass rate, or a dose and an infusion "
                "duration)");
        } else if (*rate > *max_rate + 1e-9) {
            r.push_back("rate " + number_text(*rate) + " mg/min > " + number_text(*max_rate));
        }
    }
}

void check_action_occurrence(value const& exp,
                             value const& resource,
                             fhir::instant now,
                             problems& r) {
    auto const* after = field(&exp, "occurrence_after_now");
    if (after == nullptr) return;
    auto const want = duration_minutes(text(after));
    if (!want) {
        r.push_back("occurrence_after_now is not an ISO 8601 duration: " + text(after));
        return;
    }
    std::optional<double> tolerance;
    if (auto const* t = field(&exp, "occurrence_tolerance")) tolerance = duration_minutes(text(t));
    if (!tolerance) tolerance = *want >= 1440.0 ? 23 * 60 + 59 : 60;
    auto occurrence = text(field(&resource, "occurrenceDateTime"));
    if (occurrence.empty()) occurrence = text(field(field(&resource, "occurrencePeriod"), "start"));
    auto const at = instant_of(occurrence);
    if (!at) {
        r.push_back("no parseable occurrenceDateTime ('" + occurrence + "')");
        return;
    }
    double const got = std::chrono::duration<double, std::ratio<60>>(*at - now).count();
    if (std::abs(got - *want) > *tolerance) {
        r.push_back("occurrence " + occurrence + " is now+" + number_text(got) + " min, not now+" +
                    text(after));
    }
}

problems check_action(value const& exp, value const& action, fhir::instant now) {
    problems r;
    if (auto const* type = field(&exp, "type");
        type != nullptr && text(field(&action, "type")) != text(type)) {
        return {"type '" + text(field(&action, "type")) + "' != '" + text(type) + "'"};
    }
    if (auto const* id = field(&exp, "resource_id")) {
        auto const* ids = field(&action, "resourceId");
        bool found = ids != nullptr && text(ids) == text(id);
        if (ids != nullptr && ids->is_array()) {
            for (auto const& x : ids->get_array()) found = found || text(&x) == text(id);
        }
        if (!found) r.push_back("resourceId " + text(ids) + " lacks " + text(id));
    }
    static value const no_resource = object{};
    auto const* resource_field = field(&action, "resource");
    value const& resource =
        resource_field != nullptr && resource_field->is_object() ? *resource_field : no_resource;
    if (auto const* type = field(&exp, "resource_type");
        type != nullptr && text(field(&resource, "resourceType")) != text(type)) {
        r.push_back("resourceType '" + text(field(&resource, "resourceType")) + "' != '" +
                    text(type) + "'");
        return r;
    }
    check_action_codes(exp, resource, r);
    auto const* dosage = first_dosage(resource);
    for (auto const& t : lower_list(field(&exp, "dosage_text_contains"))) {
        if (!contains(lower(text(field(dosage, "text"))), t))
            r.push_back("dosage text lacks '" + t + "'");
    }
    if (auto const* route = field(&exp, "route")) {
        auto const want = lower(text(route));
        auto const routes = route_strings(dosage);
        if (std::none_of(routes.begin(), routes.end(),
                         [&](auto const& s) { return contains(s, want); })) {
            r.push_back("route is not '" + want + "'");
        }
    }
    check_action_dose(exp, dosage, r);
    check_action_timing(exp, dosage, r);
    check_action_occurrence(exp, resource, now, r);
    return r;
}

problems check_suggestion(value const& exp, value const& suggestion, fhir::instant now) {
    problems r;
    auto const label = lower(text(field(&suggestion, "label")));
    for (auto const& t : lower_list(field(&exp, "label_contains"))) {
        if (!contains(label, t))
            r.push_back("label '" + text(field(&suggestion, "label")) + "' lacks '" + t + "'");
    }
    std::string all_text = label;
    auto const actions = objects_in(array_at(&suggestion, "actions"));
    for (auto const* a : actions) all_text += " " + lower(text(field(a, "description")));
    for (auto const& t : lower_list(field(&exp, "text_contains"))) {
        if (!contains(all_text, t)) r.push_back("label/descriptions lack '" + t + "'");
    }
    if (auto const* want = field(&exp, "is_recommended"); want != nullptr && want->is_bool()) {
        auto const* got = field(&suggestion, "isRecommended");
        bool const recommended = got != nullptr && got->is_bool() && got->get_bool();
        if (recommended != want->get_bool())
            r.push_back("isRecommended " + text(got) + " != " + text(want));
    }
    if (auto const count = number(field(&exp, "action_count"));
        count && actions.size() != static_cast<std::size_t>(*count)) {
        r.push_back(std::to_string(actions.size()) + " actions, expected " + number_text(*count));
    }
    if (auto const& want = array_at(&exp, "actions"); !want.empty()) {
        auto why = bipartite(want, actions, [now](value const& e, value const& a) {
            return check_action(e, a, now);
        });
        if (!why.empty()) {
            std::string joined;
            for (auto const& w : why) joined += (joined.empty() ? "" : " | ") + w;
            r.push_back("actions: " + joined);
        }
    }
    return r;
}

std::vector<value const*> created_resources(value const& card) {
    std::vector<value const*> out;
    for (auto const& s : array_at(&card, "suggestions")) {
        for (auto const& a : array_at(&s, "actions")) {
            auto const type = text(field(&a, "type"));
            auto const* resource = field(&a, "resource");
            if ((type == "create" || type == "update") && resource != nullptr &&
                resource->is_object())
                out.push_back(resource);
        }
    }
    return out;
}

// "all of", "none of" and "at least one of" fragments in one text.
void check_fragments(value const& exp,
                     std::string const& prefix,
                     std::string const& haystack,
                     std::string const& name,
                     problems& r) {
    for (auto const& t : lower_list(field(&exp, prefix + "_contains"))) {
        if (!contains(haystack, t)) r.push_back(name + " lacks '" + t + "'");
    }
    for (auto const& t : lower_list(field(&exp, prefix + "_not_contains"))) {
        if (contains(haystack, t)) r.push_back(name + " contains '" + t + "'");
    }
    auto const any = lower_list(field(&exp, prefix + "_contains_any"));
    if (!any.empty() && std::none_of(any.begin(), any.end(),
                                     [&](auto const& t) { return contains(haystack, t); })) {
        r.push_back(name + " has none of " + text(field(&exp, prefix + "_contains_any")));
    }
}

void check_card_suggestions(value const& exp, value const& card, fhir::instant now, problems& r) {
    auto const suggestions = objects_in(array_at(&card, "suggestions"));
    if (auto const* sb = field(&exp, "selection_behavior");
        sb != nullptr && text(field(&card, "selectionBehavior")) != text(sb)) {
        r.push_back("selectionBehavior '" + text(field(&card, "selectionBehavior")) + "' != '" +
                    text(sb) + "'");
    }
    if (auto const count = number(field(&exp, "suggestion_count"));
        count && suggestions.size() != static_cast<std::size_t>(*count)) {
        r.push_back(std::to_string(suggestions.size()) + " suggestions, expected " +
                    number_text(*count));
    }
    if (auto const* none = field(&exp, "no_suggestions");
        none != nullptr && none->is_bool() && none->get_bool() && !suggestions.empty()) {
        r.push_back("has " + std::to_string(suggestions.size()) + " suggestions, expected none");
    }
    if (auto const& want = array_at(&exp, "suggestions"); !want.empty()) {
        auto why = bipartite(want, suggestions, [now](value const& e, value const& s) {
            return check_suggestion(e, s, now);
        });
        for (auto const& w : why) r.push_back("suggestions: " + w);
    }
    std::vector<value const*> actions;
    for (auto const* s : suggestions) {
        for (auto const* a : objects_in(array_at(s, "actions"))) actions.push_back(a);
    }
    int index = 0;
    for (auto const& act : array_at(&exp, "any_action")) {
        if (std::none_of(actions.begin(), actions.end(),
                         [&](value const* a) { return check_action(act, *a, now).empty(); })) {
            r.push_back("any_action[" + std::to_string(index) + "] found in no suggestion");
        }
        ++index;
    }
    for (auto const* resource : created_resources(card)) {
        auto const codes = codes_of(*resource);
        for (auto const& banned : array_at(&exp, "no_suggestion_codes")) {
            if (codes.contains(text(&banned)))
                r.push_back("suggests a resource with forbidden code " + text(&banned));
        }
    }
}

problems check_card(value const& exp, value const& card, fhir::instant now) {
    if (auto const* want = field(&exp, "indicator");
        want != nullptr && text(field(&card, "indicator")) != text(want)) {
        return {"indicator '" + text(field(&card, "indicator")) + "' != '" + text(want) +
                "' (summary '" + text(field(&card, "summary")) + "')"};
    }
    problems r;
    auto const summary = lower(text(field(&card, "summary")));
    auto const detail = lower(text(field(&card, "detail")));
    check_fragments(exp, "summary", summary, "summary '" + text(field(&card, "summary")) + "'", r);
    check_fragments(exp, "detail", detail, "detail", r);
    check_fragments(exp, "text", summary + "\n" + detail, "summary+detail", r);
    auto const label = lower(text(field(field(&card, "source"), "label")));
    for (auto const& t : lower_list(field(&exp, "source_label_contains"))) {
        if (!contains(label, t)) r.push_back("source.label lacks '" + t + "'");
    }
    // The rule the card reports (source.topic.code; one card per problem reports its primary
    // trigger's rule).
    if (auto const* want = field(&exp, "rule"); want != nullptr) {
        auto const code = text(field(field(field(&card, "source"), "topic"), "code"));
        if (code != text(want))
            r.push_back("source.topic.code '" + code + "' != '" + text(want) + "'");
    }
    std::string reasons;
    for (auto const& o : array_at(&card, "overrideReasons"))
        reasons += (reasons.empty() ? "" : " | ") + text(field(&o, "display"));
    reasons = lower(reasons);
    for (auto const& t : lower_list(field(&exp, "override_reasons_contain"))) {
        if (!contains(reasons, t))
            r.push_back("overrideReasons (" + reasons + ") lack '" + t + "'");
    }
    check_card_suggestions(exp, card, now, r);
    return r;
}

}  // namespace

problems validate_expected(value const& expected) {
    problems out;
    check_keys(&expected, top_keys, "expected", out);
    if (text(field(&expected, "description")).empty())
        out.push_back("expected.description: required plain-words description");
    if (!instant_of(text(field(&expected, "now"))))
        out.push_back("expected.now: required, a FHIR dateTime with time zone");
    auto const* cards = field(&expected, "cards");
    if ((cards != nullptr) == (field(&expected, "error") != nullptr)) {
        out.push_back("expected: exactly one of 'cards' or 'error' is required");
    }
    if (cards != nullptr && text(cards) != "none") {
        if (!cards->is_array() || cards->get_array().empty()) {
            out.push_back("expected.cards: \"none\" or a non-empty list of card expectations");
            return out;
        }
        int i = 0;
        for (auto const& card : cards->get_array()) {
            auto const where = "expected.cards[" + std::to_string(i++) + "]";
            check_keys(&card, card_keys, where, out);
            if (auto const* ind = field(&card, "indicator");
                ind != nullptr && !indicators.contains(text(ind))) {
                out.push_back(where + ".indicator: one of info, warning, critical");
            }
            for (auto const& s : array_at(&card, "suggestions")) {
                check_keys(&s, suggestion_keys, where + ".suggestions[]", out);
                for (auto const& a : array_at(&s, "actions"))
                    check_keys(&a, action_keys, where + ".suggestions[].actions[]", out);
            }
            for (auto const& a : array_at(&card, "any_action"))
                check_keys(&a, action_keys, where + ".any_action[]", out);
        }
    }
    for (auto const& cs : array_at(&expected, "cards_suggesting")) {
        check_keys(&cs, {"codes_any", "count"}, "expected.cards_suggesting[]", out);
    }
    if (auto const* n = field(&expected, "card_count");
        n != nullptr && !n->is_int64() && !n->is_uint64()) {
        out.push_back("expected.card_count: an integer");
    }
    if (auto const* error = field(&expected, "error"))
        check_keys(error, {"output_contains"}, "expected.error", out);
    for (auto const& p : array_at(&expected, "rules_patch"))
        check_keys(&p, {"path", "value"}, "expected.rules_patch[]", out);
    return out;
}

std::string expand_placeholders(std::string const& text_value, rules_under_test const& rules) {
    static std::regex const placeholder(R"(\{(ruleSetId|ruleSetVersion|rules:(/[^}]*))\})");
    std::string out;
    auto begin = std::sregex_iterator(text_value.begin(), text_value.end(), placeholder);
    std::size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
        auto const& m = *it;
        out += text_value.substr(last, static_cast<std::size_t>(m.position()) - last);
        last = static_cast<std::size_t>(m.position() + m.length());
        if (m[1] == "ruleSetId") {
            out += rules.rules->id();
        } else if (m[1] == "ruleSetVersion") {
            out += rules.rules->version();
        } else {
            boost::system::error_code ec;
            auto const* v = rules.document.find_pointer(m[2].str(), ec);
            out += v == nullptr     ? m.str()
                   : v->is_number() ? number_text(v->to_number<double>())
                                    : text(v);
        }
    }
    return out + text_value.substr(last);
}

}  // namespace cds::service::workbench

namespace cds::service::workbench {

// The card expectations (each matched to a distinct card) and the response-wide code checks.
std::vector<std::string> check_cards(boost::json::value const& expected,
                                     std::vector<boost::json::value const*> const& cards,
                                     fhir::instant now) {
    using namespace measures;
    std::vector<std::string> r;
    auto why = bipartite(array_at(&expected, "cards"), cards,
                         [now](value const& e, value const& c) { return check_card(e, c, now); });
    for (auto const& w : why) r.push_back("cards: " + w);
    for (auto const& cs : array_at(&expected, "cards_suggesting")) {
        std::size_t n = 0;
        for (auto const* c : cards) {
            bool suggests = false;
            for (auto const* res : created_resources(*c)) {
                auto const codes = codes_of(*res);
                for (auto const& code : array_at(&cs, "codes_any"))
                    suggests = suggests || codes.contains(text(&code));
            }
            n += suggests ? 1 : 0;
        }
        if (static_cast<double>(n) != number(field(&cs, "count")).value_or(-1)) {
            r.push_back(std::to_string(n) + " cards suggest one of " +
                        text(field(&cs, "codes_any")) + ", expected " + text(field(&cs, "count")));
        }
    }
    for (auto const* c : cards) {
        for (auto const* res : created_resources(*c)) {
            auto const codes = codes_of(*res);
            for (auto const& banned : array_at(&expected, "no_suggestion_codes")) {
                if (codes.contains(text(&banned)))
                    r.push_back("a card suggests forbidden code " + text(&banned));
            }
        }
    }
    return r;
}

}  // namespace cds::service::workbench
