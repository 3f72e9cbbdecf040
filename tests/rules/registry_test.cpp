// The rule file against the code's registry (rules/src/registry.def): a rule or text the code
// has and the file lacks, or the other way round, or a placeholder the code does not fill,
// stops the load with a problem naming it — every one of them, not only the first.

#include <algorithm>
#include <string>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "registry.hpp"

namespace bj = boost::json;

namespace {

bj::value bundled_json() { return bj::parse(cds::rules::bundled_rule_set_json()); }

cds::rules::rule_set_load_result load(bj::value const& v) {
    return cds::rules::load_rule_set(bj::serialize(v));
}

std::string dump(std::vector<cds::rules::rule_set_problem> const& ps) {
    std::string s;
    for (auto const& p : ps) s += p.path + ": " + p.message + "\n";
    return s;
}

// The one problem at `path`, which must mention every fragment.
bool names(std::vector<cds::rules::rule_set_problem> const& ps,
           std::string const& path,
           std::initializer_list<char const*> fragments) {
    return std::count_if(ps.begin(), ps.end(), [&](auto const& p) {
               return p.path == path &&
                      std::all_of(fragments.begin(), fragments.end(), [&](char const* f) {
                          return p.message.find(f) != std::string::npos;
                      });
           }) == 1;
}

}  // namespace

TEST_CASE("the bundled configuration configures every registered rule and text, and nothing else") {
    auto const v = bundled_json();
    auto const& rules = v.at("rules").as_object();
    CHECK(rules.size() == cds::rules::registered_rules().size());
    for (auto const& r : cds::rules::registered_rules()) {
        CAPTURE(r.id);
        CHECK(rules.contains(r.id));
    }
    auto const r = load(v);
    INFO(dump(r.problems));
    CHECK(r.problems.empty());
}

TEST_CASE("a registered rule missing from the configuration stops the load, naming the rule") {
    auto v = bundled_json();
    v.at("rules").as_object().erase("digoxin-with-hypomagnesemia");
    auto const r = load(v);
    INFO(dump(r.problems));
    CHECK_FALSE(r.rules);
    CHECK(names(r.problems, "/rules/digoxin-with-hypomagnesemia",
                {"'digoxin-with-hypomagnesemia'", "not configured"}));
    CHECK(r.problems.size() == 1);
}

TEST_CASE("a configured rule the build does not have stops the load, naming it") {
    auto v = bundled_json();
    v.at("rules").as_object()["calcium-with-hypomagnesemia"] =
        bj::object{{"title", "Calcium"},
                   {"summary", "Calcium {drug}"},
                   {"override_reasons", bj::array{"patient-declined"}}};
    auto const r = load(v);
    INFO(dump(r.problems));
    CHECK_FALSE(r.rules);
    CHECK(names(r.problems, "/rules/calcium-with-hypomagnesemia",
                {"unknown rule 'calcium-with-hypomagnesemia'"}));
    CHECK(r.problems.size() == 1);
}

TEST_CASE("a text the code reads, missing from the configuration, is named with what reads it") {
    SUBCASE("read by a rule") {
        auto v = bundled_json();
        v.at("texts").as_object().erase("chelation_advice");
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK_FALSE(r.rules);
        CHECK(names(r.problems, "/texts/chelation_advice",
                    {"missing text 'chelation_advice'", "oral-magnesium-chelation"}));
    }
    SUBCASE("a member of a group, read by the card builders") {
        auto v = bundled_json();
        v.at("texts").at("actions").as_object().erase("iv_reduced");
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK_FALSE(r.rules);
        CHECK(names(r.problems, "/texts/actions/iv_reduced",
                    {"missing text 'actions.iv_reduced'", "card builders"}));
    }
    SUBCASE("read by a rule and by the card builders") {
        auto v = bundled_json();
        v.at("texts").as_object().erase("nephrology_advice");
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK(names(r.problems, "/texts/nephrology_advice", {"repletion-renal-contraindicated"}));
    }
}

TEST_CASE("a configured text that no code reads is named (a misspelt key)") {
    auto v = bundled_json();
    auto& texts = v.at("texts").as_object();
    texts["chelation_advise"] = texts.at("chelation_advice");
    texts.at("actions").as_object()["recheck"] = "recheck the level";
    auto const r = load(v);
    INFO(dump(r.problems));
    CHECK_FALSE(r.rules);
    CHECK(names(r.problems, "/texts/chelation_advise", {"'chelation_advise'", "read by no rule"}));
    CHECK(names(r.problems, "/texts/actions/recheck", {"'actions.recheck'", "read by no rule"}));
    CHECK(r.problems.size() == 2);
}

TEST_CASE("a placeholder the code does not fill for that summary or text is named") {
    SUBCASE("a summary: another rule's placeholder") {
        // {mg} is filled by other rules' summaries, not by this one's.
        auto v = bundled_json();
        v.at("rules").at("repletion-renal-severely-impaired").as_object()["summary"] =
            "{drug} with Mg {mg} and renal function {renal}";
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK_FALSE(r.rules);
        CHECK(names(r.problems, "/rules/repletion-renal-severely-impaired/summary",
                    {"{mg}", "{drug}, {renal}"}));
    }
    SUBCASE("a text: another text's placeholder") {
        auto v = bundled_json();
        v.at("texts").as_object()["refer_to_level"] =
            "A level is suggested for {describes} on \"{card}\".";
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK_FALSE(r.rules);
        CHECK(names(r.problems, "/texts/refer_to_level", {"{describes}", "{card}"}));
    }
    SUBCASE("a text that takes none, and an unclosed brace") {
        auto v = bundled_json();
        v.at("texts").at("actions").as_object()["no_dose"] = "no dose {dose} suggested";
        v.at("texts").as_object()["chelation_advice"] = "Separate the doses {soon";
        auto const r = load(v);
        INFO(dump(r.problems));
        CHECK(names(r.problems, "/texts/actions/no_dose", {"{dose}", "fills none"}));
        CHECK(names(r.problems, "/texts/chelation_advice", {"{soon", "no closing brace"}));
    }
}

TEST_CASE("every mismatch with the registry is named at once, with the schema's problems") {
    auto v = bundled_json();
    v.at("rules").as_object().erase("iv-magnesium-rate");
    v.at("rules").as_object()["magnesium-in-the-water"] =
        bj::object{{"title", "Water"},
                   {"summary", "Water"},
                   {"override_reasons", bj::array{"patient-declined"}}};
    v.at("texts").as_object().erase("chelation_advice");
    v.at("rules").at("hypomagnesemia").as_object()["summary"] = "Serum Mg {magnesium} mg/dL";
    v.at("windows").as_object()["renal_current_days"] = "30";  // a schema problem as well
    auto const r = load(v);
    INFO(dump(r.problems));
    CHECK_FALSE(r.rules);
    CHECK(names(r.problems, "/rules/iv-magnesium-rate", {"not configured"}));
    CHECK(names(r.problems, "/rules/magnesium-in-the-water", {"unknown rule"}));
    CHECK(
        names(r.problems, "/texts/chelation_advice", {"missing text", "oral-magnesium-chelation"}));
    CHECK(names(r.problems, "/rules/hypomagnesemia/summary", {"{magnesium}"}));
    CHECK(names(r.problems, "/windows/renal_current_days", {"expected number"}));
    CHECK(r.problems.size() == 5);
}
