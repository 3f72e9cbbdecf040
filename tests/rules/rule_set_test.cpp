// The rule configuration: the bundled file loads cleanly, broken files are rejected with
// every problem and its JSON path, and the numbers really live in the data.

#include <algorithm>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/rules/rule_set.hpp"
#include "helpers.hpp"

namespace bj = boost::json;
using namespace rules_test;

namespace {

bj::value bundled_json() { return bj::parse(cds::rules::bundled_rule_set_json()); }

std::vector<cds::rules::rule_set_problem> problems_of(bj::value const& v) {
    return cds::rules::load_rule_set(bj::serialize(v)).problems;
}

bool has_problem(std::vector<cds::rules::rule_set_problem> const& ps,
                 std::string const& path,
                 std::string const& fragment = "") {
    return std::any_of(ps.begin(), ps.end(), [&](auto const& p) {
        return p.path == path && p.message.find(fragment) != std::string::npos;
    });
}

std::string dump(std::vector<cds::rules::rule_set_problem> const& ps) {
    std::string s;
    for (auto const& p : ps) s += p.path + ": " + p.message + "\n";
    return s;
}

}  // namespace

TEST_CASE("the bundled rule set loads without problems") {
    auto const r = cds::rules::load_rule_set(cds::rules::bundled_rule_set_json());
    INFO(dump(r.problems));
    REQUIRE(r.problems.empty());
    REQUIRE(r.rules);
    CHECK(r.rules->id() == "magnesium-cds-rules");
    CHECK_FALSE(r.rules->version().empty());
    REQUIRE(r.rules->services().size() == 3);
    for (char const* id :
         {"magnesium-patient-view", "magnesium-order-select", "magnesium-order-sign"}) {
        CAPTURE(id);
        auto const* s = r.rules->find_service(id);
        REQUIRE(s);
        auto const mg = std::find_if(s->prefetch.begin(), s->prefetch.end(),
                                     [](auto const& t) { return t.key == "magnesium"; });
        REQUIRE(mg != s->prefetch.end());
        CHECK(mg->required);
        CHECK(mg->query.find(
                  "Observation?patient={{context.patientId}}&code=http://loinc.org|19123-9") == 0);
        // Only the magnesium results are required data.
        CHECK(std::count_if(s->prefetch.begin(), s->prefetch.end(),
                            [](auto const& t) { return t.required; }) == 1);
        for (auto const& t : s->prefetch) CHECK_FALSE(t.describes.empty());
    }
    CHECK(r.rules->find_service("magnesium-patient-view")->hook == "patient-view");
    CHECK(r.rules->find_service("nope") == nullptr);
}

TEST_CASE("the schema is embedded and is draft-04 JSON") {
    auto const schema = bj::parse(cds::rules::rule_set_schema_json());
    CHECK(schema.at("$schema") == "http://json-schema.org/draft-04/schema#");
    CHECK(schema.at("additionalProperties") == false);
}

TEST_CASE("an unknown member is rejected with its path") {
    auto v = bundled_json();
    v.at("thresholds").at("magnesium").as_object()["severe_below"] = 1.0;  // misspelt key
    auto const ps = problems_of(v);
    INFO(dump(ps));
    CHECK(has_problem(ps, "/thresholds/magnesium/severe_below", "unknown member"));
}

TEST_CASE("every problem is reported, each with its path") {
    auto v = bundled_json();
    v.at("thresholds").at("magnesium").as_object()["severe_below_mg_dl"] = "1.2";  // wrong type
    v.at("windows").as_object().erase("renal_current_days");                       // missing
    v.at("units").at("magnesium_mg_dl").as_array()[2].as_object()["factor"] =
        -2.431;                                                           // not positive
    v.at("services").as_array()[1].as_object()["hook"] = "order-review";  // not a hook
    v.as_object()["colour"] = "blue";                                     // unknown top-level
    auto const ps = problems_of(v);
    INFO(dump(ps));
    CHECK(has_problem(ps, "/thresholds/magnesium/severe_below_mg_dl", "expected number"));
    CHECK(has_problem(ps, "/windows/renal_current_days", "missing required member"));
    CHECK(has_problem(ps, "/units/magnesium_mg_dl/2/factor", "greater than 0"));
    CHECK(has_problem(ps, "/services/1/hook", "not one of"));
    CHECK(has_problem(ps, "/colour", "unknown member"));
    CHECK(ps.size() == 5);
}

TEST_CASE("consistency checks: threshold order, band edges, duplicate units, placeholders") {
    SUBCASE("severe must be below low") {
        auto v = bundled_json();
        v.at("thresholds").at("magnesium").as_object()["severe_below_mg_dl"] = 1.9;
        auto const ps = problems_of(v);
        INFO(dump(ps));
        CHECK(has_problem(ps, "/thresholds/magnesium/low_below_mg_dl", "severe < low < high"));
    }
    SUBCASE("low must be below high") {
        auto v = bundled_json();
        v.at("thresholds").at("magnesium").as_object()["high_above_mg_dl"] = 1.5;
        CHECK(has_problem(problems_of(v), "/thresholds/magnesium/high_above_mg_dl"));
    }
    SUBCASE("band edges descend") {
        auto v = bundled_json();
        v.at("renal").at("bands").as_array()[2].as_object()["min_ml_min"] = 35;
        CHECK(has_problem(problems_of(v), "/renal/bands/2/min_ml_min", "descend"));
    }
    SUBCASE("bands in order") {
        auto v = bundled_json();
        v.at("renal").at("bands").as_array()[0].as_object()["id"] = "impaired";
        CHECK(has_problem(problems_of(v), "/renal/bands/0/id"));
    }
    SUBCASE("duplicate unit, case-insensitive") {
        auto v = bundled_json();
        v.at("units")
            .at("magnesium_mg_dl")
            .as_array()
            .push_back(bj::object{{"unit", "MG/DL"}, {"factor", 1}});
        CHECK(has_problem(problems_of(v), "/units/magnesium_mg_dl/4/unit", "twice"));
    }
    SUBCASE("unknown placeholder in a summary") {
        auto v = bundled_json();
        v.at("rules").at("hypomagnesemia").as_object()["summary"] = "Serum Mg {magnesium} mg/dL";
        CHECK(has_problem(problems_of(v), "/rules/hypomagnesemia/summary", "{magnesium}"));
    }
    SUBCASE("duplicate service id") {
        auto v = bundled_json();
        v.at("services").as_array()[1].as_object()["id"] = "magnesium-patient-view";
        CHECK(has_problem(problems_of(v), "/services/1/id", "twice"));
    }
    SUBCASE("unknown code system alias in a value set") {
        auto v = bundled_json();
        v.at("value_sets").at("digoxin").at("codes").as_array()[0].as_object()["system"] = "ndc";
        CHECK(has_problem(problems_of(v), "/value_sets/digoxin/codes/0/system"));
    }
}

TEST_CASE("the texts for incomplete data are required, with known placeholders only") {
    for (char const* key : {"data_incomplete", "medication_unidentified"}) {
        CAPTURE(key);
        auto v = bundled_json();
        v.at("texts").as_object().erase(key);
        auto ps = problems_of(v);
        INFO(dump(ps));
        CHECK(has_problem(ps, std::string("/texts/") + key, "missing text"));

        v = bundled_json();
        v.at("texts").as_object()[key] = "incomplete: {note}";
        ps = problems_of(v);
        INFO(dump(ps));
        CHECK(has_problem(ps, std::string("/texts/") + key, "{note}"));
    }
}

TEST_CASE("not JSON, and not an object") {
    auto ps = cds::rules::load_rule_set("{\"id\": ").problems;
    REQUIRE(ps.size() == 1);
    CHECK(ps[0].path == "/");
    CHECK(ps[0].message.find("not valid JSON") != std::string::npos);
    ps = cds::rules::load_rule_set("[]").problems;
    REQUIRE_FALSE(ps.empty());
    CHECK(ps[0].message.find("expected object") != std::string::npos);
}

TEST_CASE("the numbers live in the data: another severe threshold gives another card") {
    request r;
    r.resources = {patient(), magnesium(1.1), egfr(75)};
    auto const standard = run(r);
    REQUIRE(standard.cards().size() == 1);
    CHECK(indicator(standard.card(0)) == "critical");

    auto v = bundled_json();
    v.at("thresholds").at("magnesium").as_object()["severe_below_mg_dl"] = 1.0;
    auto const changed = cds::rules::load_rule_set(bj::serialize(v));
    INFO(dump(changed.problems));
    REQUIRE(changed.rules);
    auto const other = run(r, *changed.rules);
    REQUIRE(other.cards().size() == 1);
    CHECK(indicator(other.card(0)) == "warning");
    CHECK(contains(summary(other.card(0)), "mild–moderate"));
}

// The words the card formatter and the card builders put around the data (dates, ages,
// durations, drug counts, reference kinds) are texts of the configuration like the sentences.
TEST_CASE(
    "dates, ages, durations, drug counts and reference kinds on a card are configured texts") {
    auto v = bundled_json();
    auto& texts = v.at("texts").as_object();
    texts["dates"].as_object()["feb"] = "Februar";
    texts["dates"].as_object()["mar"] = "März";
    texts["dates"].as_object()["time"] = "{date} um {time}";
    texts["ages"].as_object()["ago"] = "vor {age}";
    texts["ages"].as_object()["yesterday"] = "gestern";
    texts["ages"].as_object()["in"] = "binnen {age}";
    texts["durations"].as_object()["days"] = "{n} Tage";
    texts["durations"].as_object()["months"] = "{n} Monate";
    texts["drug_names"].as_object()["more"] = "{names} und {count} weitere";
    texts["references"].as_object()["order"] = "einer Verordnung";
    texts["results"].as_object()["potassium"] = "Kalium";
    texts["skipped"].as_object()["unknown_unit"] = "Einheit '{unit}' unbekannt";
    auto const changed = cds::rules::load_rule_set(bj::serialize(v));
    INFO(dump(changed.problems));
    REQUIRE(changed.rules);

    request stale;
    stale.resources = {patient(), magnesium(1.4, "2025-02-18T08:00:00Z"), egfr(75)};
    auto const stale_low = run(stale, *changed.rules);
    REQUIRE(stale_low.cards().size() == 1);
    CHECK(contains(summary(stale_low.card(0)), "was low 20 Tage"));
    CHECK(contains(detail(stale_low.card(0)), "18 Februar 2025 um 08:00, vor 20 Tage"));
    CHECK(contains(detail(stale_low.card(0)), "9 März 2025, gestern"));

    request oral;
    oral.resources = {patient(), magnesium(1.5), egfr(75)};
    auto const mild = run(oral, *changed.rules);
    REQUIRE(mild.cards().size() == 1);
    CHECK(contains(bj::serialize(mild.card(0)), "recheck binnen 7 Tage"));

    request monitoring;
    monitoring.resources = {patient(), med_request("f1", "active", furosemide()), egfr(75)};
    auto const due = run(monitoring, *changed.rules);
    REQUIRE(due.cards().size() == 1);
    CHECK(contains(summary(due.card(0)), "12 Monate"));

    request three;
    three.resources = {patient(), magnesium(1.1), egfr(75)};
    three.drafts = {med_request("d1", "draft", furosemide()),
                    med_request("d2", "draft", omeprazole()),
                    med_request("d3", "draft", furosemide())};
    three.hook = "order-sign";
    auto const named = run(three, *changed.rules);
    REQUIRE_FALSE(named.cards().empty());
    CHECK(contains(summary(named.card(0)), "furosemide und 2 weitere"));

    request unidentified;
    unidentified.resources = {patient(), magnesium(1.5), egfr(75),
                              med_request_ref("x1", "active", "Medication/gone"),
                              observation("k1", "2823-3", 3.0, "mmol/X", "2025-03-10")};
    auto const unknown = run(unidentified, *changed.rules);
    REQUIRE(unknown.cards().size() == 1);
    CHECK(contains(detail(unknown.card(0)), "the medication of einer Verordnung"));
    CHECK(contains(detail(unknown.card(0)), "Kalium skipped: Einheit 'mmol/X' unbekannt"));
}

TEST_CASE("a disabled rule produces no card") {
    auto v = bundled_json();
    v.at("rules").at("hypomagnesemia").as_object()["enabled"] = false;
    auto const changed = cds::rules::load_rule_set(bj::serialize(v));
    REQUIRE(changed.rules);
    request r;
    r.resources = {patient(), magnesium(1.1)};
    CHECK(run(r, *changed.rules).cards().empty());
}

TEST_CASE("each rule lists its override reasons; a code not in the shared list stops the load") {
    SUBCASE("an unknown code is named with its path") {
        auto v = bundled_json();
        v.at("rules")
            .at("iv-magnesium-rate")
            .at("override_reasons")
            .as_array()
            .push_back("too-busy");
        auto const ps = problems_of(v);
        INFO(dump(ps));
        CHECK(has_problem(ps, "/rules/iv-magnesium-rate/override_reasons/2", "'too-busy'"));
        CHECK(ps.size() == 1);
    }
    SUBCASE("a rule without its list is refused by the schema") {
        auto v = bundled_json();
        v.at("rules").at("oral-magnesium-chelation").as_object().erase("override_reasons");
        auto const ps = problems_of(v);
        INFO(dump(ps));
        CHECK(has_problem(ps, "/rules/oral-magnesium-chelation/override_reasons",
                          "missing required member"));
    }
    SUBCASE("the card offers the rule's reasons in the configured order") {
        auto v = bundled_json();
        v.at("rules").at("hypomagnesemia").at("override_reasons") =
            bj::array{"renal-function-considered", "patient-declined"};
        auto const loaded = cds::rules::load_rule_set(bj::serialize(v));
        REQUIRE(loaded.rules);
        request r;
        r.resources = {patient(), magnesium(1.5), egfr(75)};
        auto const o = run(r, *loaded.rules);
        REQUIRE(o.cards().size() == 1);
        auto const& reasons = o.card(0).at("overrideReasons").as_array();
        REQUIRE(reasons.size() == 2);
        CHECK(reasons[0].at("code") == "renal-function-considered");
        CHECK(reasons[0].at("display") == "Renal function considered");
        CHECK(reasons[1].at("code") == "patient-declined");
    }
}
