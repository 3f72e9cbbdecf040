// What CDS Hooks 2.0 and CLINICAL-BASIS.md §3/§5 require of every response, whatever the
// scenario expects, and the whole check of one scenario's response.

#include <map>
#include <regex>

#include "cds/service/workbench/workbench.hpp"
#include "fhir_measures.hpp"

namespace cds::service::workbench {

namespace {

using namespace measures;
using problems = std::vector<std::string>;

void walk_empty(value const& v, std::string const& path, problems& out) {
    if (v.is_null()) out.push_back(path + " is null");
    if (v.is_string() && v.get_string().empty()) out.push_back(path + " is an empty string");
    if (v.is_array()) {
        if (v.get_array().empty()) out.push_back(path + " is an empty array");
        std::size_t i = 0;
        for (auto const& x : v.get_array())
            walk_empty(x, path + "[" + std::to_string(i++) + "]", out);
    }
    if (v.is_object()) {
        if (v.get_object().empty()) out.push_back(path + " is an empty object");
        for (auto const& [k, x] : v.get_object()) walk_empty(x, path + "." + std::string{k}, out);
    }
}

bool is_uuid(std::string const& s) {
    static std::regex const uuid(
        R"(^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$)",
        std::regex::icase);
    return std::regex_match(s, uuid);
}

std::string order_signature(value const& resource) {
    std::string key = text(field(&resource, "resourceType")) + " [";
    for (auto const& c : codes_of(resource)) {
        if (c.find('|') == std::string::npos) key += c + " ";
    }
    auto const dose = mass_mg(dose_quantity(first_dosage(resource)));
    return key + "] " + (dose ? std::to_string(*dose) + " mg" : "no dose");
}

// An update carries the prescriber's draft in its entirety (CDS Hooks 2.0), so only what makes it
// this patient's draft order is checked; a created order is checked in full.
void order_invariants(value const& res,
                      std::string const& type,
                      std::string const& where,
                      value const& context,
                      bool created,
                      problems& r) {
    auto const patient_ref = "Patient/" + text(field(&context, "patientId"));
    if (text(field(&res, "status")) != "draft")
        r.push_back(where + ": " + type + ".status is not 'draft'");
    if (text(field(&res, "intent")) != "order")
        r.push_back(where + ": " + type + ".intent is not 'order'");
    if (text(field(field(&res, "subject"), "reference")) != patient_ref)
        r.push_back(where + ": " + type + ".subject != " + patient_ref);
    if (!created) return;
    if (auto const encounter = text(field(&context, "encounterId"));
        !encounter.empty() &&
        text(field(field(&res, "encounter"), "reference")) != "Encounter/" + encounter) {
        r.push_back(where + ": " + type + ".encounter != Encounter/" + encounter);
    }
    if (auto const user = text(field(&context, "userId"));
        !user.empty() && text(field(field(&res, "requester"), "reference")) != user) {
        r.push_back(where + ": " + type + ".requester != " + user);
    }
}

void resource_invariants(
    value const& res, std::string const& where, value const& context, bool created, problems& r) {
    auto const type = text(field(&res, "resourceType"));
    if (type == "MedicationRequest" || type == "ServiceRequest")
        order_invariants(res, type, where, context, created, r);
    if (!created) return;
    if (type == "MedicationRequest") {
        auto const* mcc = field(&res, "medicationCodeableConcept");
        auto const& coding = array_at(mcc, "coding");
        if (text(field(mcc, "text")).empty() || coding.empty() ||
            text(field(&coding.front(), "code")).empty()) {
            r.push_back(
                where +
                ": MedicationRequest needs medicationCodeableConcept.text and coding[0].code");
        }
        auto const* dosage = first_dosage(res);
        if (text(field(dosage, "text")).empty())
            r.push_back(where + ": MedicationRequest needs dosageInstruction[0].text");
        if (dose_quantity(dosage) == nullptr)
            r.push_back(where + ": MedicationRequest needs a structured dose");
        if (field(dosage, "route") == nullptr)
            r.push_back(where + ": MedicationRequest needs a route");
    }
    // A verified code where one exists, else the text alone (CLINICAL-BASIS.md §3.4: a digoxin
    // level has no verified LOINC code).
    if (type == "ServiceRequest" && array_at(field(&res, "code"), "coding").empty() &&
        text(field(field(&res, "code"), "text")).empty()) {
        r.push_back(where +
                    ": ServiceRequest needs a code (coded, or text where none is verified)");
    }
}

struct response_walk {
    value const& context;
    rules_under_test const& rules;
    std::set<std::string> uuids;
    std::map<std::string, std::size_t> signatures;
    problems r;

    void uuid(value const* id, std::string const& where) {
        auto const s = text(id);
        if (id == nullptr || !id->is_string() || !is_uuid(s)) {
            r.push_back(where + ": uuid '" + s + "' is not an RFC 4122 uuid");
        } else if (!uuids.insert(s).second) {
            r.push_back(where + ": uuid " + s + " used twice in one response");
        }
    }

    void card(value const& c, std::size_t index) {
        auto const where = "cards[" + std::to_string(index) + "]";
        auto const summary = text(field(&c, "summary"));
        if (summary.empty()) r.push_back(where + ".summary missing");
        if (summary.size() >= 140)
            r.push_back(where + ".summary has " + std::to_string(summary.size()) +
                        " characters (must be < 140)");
        auto const indicator = text(field(&c, "indicator"));
        if (indicator != "info" && indicator != "warning" && indicator != "critical")
            r.push_back(where + ".indicator invalid");
        auto const* source = field(&c, "source");
        if (field(source, "label") == nullptr) r.push_back(where + ".source.label missing");
        if (text(field(source, "url")).empty() ||
            text(field(field(source, "topic"), "code")).empty()) {
            r.push_back(where + ".source needs the rule documentation url and a coded topic (§5)");
        }
        // Provenance goes where machines read it (§5): the rule-set version in source.topic.
        if (text(field(field(source, "topic"), "version")) != rules.rules->version()) {
            r.push_back(where + ".source.topic.version is not the rule set's version " +
                        rules.rules->version() + " (§5)");
        }
        if (array_at(&c, "overrideReasons").empty())
            r.push_back(where + ".overrideReasons missing (§5)");
        for (auto const& o : array_at(&c, "overrideReasons")) {
            if (text(field(&o, "code")).empty() || text(field(&o, "display")).empty()) {
                r.push_back(
                    where +
                    ".overrideReasons has an entry that is not a Coding with code and display");
            }
        }
        uuid(field(&c, "uuid"), where);
        auto const& suggestions = array_at(&c, "suggestions");
        auto const behaviour = text(field(&c, "selectionBehavior"));
        if (!suggestions.empty() && behaviour != "at-most-one" && behaviour != "any") {
            r.push_back(where + ": suggestions without a valid selectionBehavior");
        }
        std::size_t j = 0;
        for (auto const& s : suggestions)
            suggestion(s, where + ".suggestions[" + std::to_string(j++) + "]", index);
    }

    void suggestion(value const& s, std::string const& where, std::size_t card_index) {
        uuid(field(&s, "uuid"), where);
        if (field(&s, "label") == nullptr) r.push_back(where + ".label missing");
        std::size_t k = 0;
        for (auto const& a : array_at(&s, "actions")) {
            auto const awhere = where + ".actions[" + std::to_string(k++) + "]";
            auto const type = text(field(&a, "type"));
            if (type != "create" && type != "update" && type != "delete")
                r.push_back(awhere + ".type invalid");
            if (field(&a, "description") == nullptr) r.push_back(awhere + ".description missing");
            if (type == "delete" && field(&a, "resourceId") == nullptr)
                r.push_back(awhere + ": delete without resourceId");
            if (type != "create" && type != "update") continue;
            auto const* res = field(&a, "resource");
            if (res == nullptr || !res->is_object()) {
                r.push_back(awhere + ": " + type + " without a resource");
                continue;
            }
            resource_invariants(*res, awhere, context, type == "create", r);
            if (type != "create") continue;
            auto const [it, inserted] = signatures.emplace(order_signature(*res), card_index);
            if (!inserted && it->second != card_index) {
                r.push_back(awhere + ": cards[" + std::to_string(it->second) +
                            "] already suggests the same order " + it->first + " (§5)");
            }
        }
    }
};

problems invariants(value const& response, value const& request, rules_under_test const& rules) {
    auto const* cards = field(&response, "cards");
    if (cards == nullptr || !cards->is_array()) return {"response has no 'cards' array"};
    static value const no_context = boost::json::object{};
    auto const* context = field(&request, "context");
    response_walk walk{context != nullptr ? *context : no_context, rules, {}, {}, {}};
    std::size_t i = 0;
    for (auto const& c : cards->get_array())
        walk_empty(c, "cards[" + std::to_string(i++) + "]", walk.r);
    i = 0;
    for (auto const& c : cards->get_array()) {
        if (!c.is_object()) {
            walk.r.push_back("cards[" + std::to_string(i++) + "] is not an object");
            continue;
        }
        walk.card(c, i++);
    }
    return walk.r;
}

value expand_all(value const& v, rules_under_test const& rules) {
    if (v.is_string()) return value(expand_placeholders(std::string{v.get_string()}, rules));
    if (v.is_array()) {
        array out;
        for (auto const& x : v.get_array()) out.push_back(expand_all(x, rules));
        return out;
    }
    if (v.is_object()) {
        object out;
        for (auto const& [k, x] : v.get_object()) out[k] = expand_all(x, rules);
        return out;
    }
    return v;
}

std::string card_list(std::vector<value const*> const& cards) {
    std::string out;
    for (auto const* c : cards)
        out += (out.empty() ? "" : "; ") + text(field(c, "indicator")) + ": '" +
               text(field(c, "summary")) + "'";
    return out;
}

problems check_error_expectation(value const& expected, evaluation const& result) {
    problems r;
    if (result.status == 200)
        r.push_back("expected a refused request, got 200: " + result.body.substr(0, 300));
    for (auto const& t : array_at(field(&expected, "error"), "output_contains")) {
        if (result.body.find(text(&t)) == std::string::npos)
            r.push_back("error output lacks '" + text(&t) + "'");
    }
    return r;
}

}  // namespace

problems check_scenario(value const& raw_expected,
                        value const& request,
                        evaluation const& result,
                        rules_under_test const& rules) {
    if (auto const fixture = validate_expected(raw_expected); !fixture.empty()) {
        problems r;
        for (auto const& p : fixture) r.push_back("fixture error: " + p);
        return r;
    }
    auto const expected = expand_all(raw_expected, rules);
    if (field(&expected, "error") != nullptr) return check_error_expectation(expected, result);
    if (result.status != 200)
        return {"status " + std::to_string(result.status) + ": " + result.body.substr(0, 600)};
    if (result.response.is_null())
        return {"the response is not JSON: " + result.body.substr(0, 300)};
    auto r = invariants(result.response, request, rules);
    std::vector<value const*> cards;
    for (auto const& c : array_at(&result.response, "cards")) {
        if (c.is_object()) cards.push_back(&c);
    }
    if (text(field(&expected, "cards")) == "none") {
        if (!cards.empty()) r.push_back("expected no card, got: " + card_list(cards));
        return r;
    }
    auto const now = fhir::parse_date_time(text(field(&expected, "now"))).value->start;
    auto const want = number(field(&expected, "card_count"))
                          .value_or(static_cast<double>(array_at(&expected, "cards").size()));
    if (static_cast<double>(cards.size()) != want) {
        r.push_back(std::to_string(cards.size()) + " cards, expected " +
                    std::to_string(static_cast<int>(want)) + ": " + card_list(cards));
    }
    for (auto& p : check_cards(expected, cards, now)) r.push_back(std::move(p));
    return r;
}

}  // namespace cds::service::workbench
