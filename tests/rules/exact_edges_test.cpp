// Reading the record at its edges (CLINICAL-BASIS.md §1, §2, §7): every magnesium threshold and
// renal band edge in every supported unit and with every comparator, compared as decimals; a
// property test against an integer-arithmetic reading of the rules; comparators that cannot
// classify; implausible, future-dated and other patients' data; micro signs; text matching;
// a Condition's date.

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>

#include "common/decimal.hpp"
#include "common/text.hpp"
#include "findings.hpp"
#include "helpers.hpp"

using namespace rules_test;
using cds::rules::mg_level;
using cds::rules::renal_band;

namespace {

cds::rules::rule_set_data const& data() { return bundled()->data(); }

// The findings build_findings makes of these resources (and drafts) for patient p1 at now_text.
struct read_record {
    cds::fhir::patient_snapshot snapshot;
    cds::rules::hook_context context;
    std::vector<cds::rules::trace_entry> trace;
    cds::rules::patient_findings f;

    explicit read_record(std::vector<bj::value> const& resources,
                         std::vector<bj::value> const& drafts = {},
                         std::string const& hook = "patient-view") {
        cds::fhir::snapshot_builder b;
        for (std::size_t i = 0; i < resources.size(); ++i)
            b.add(resources[i], "prefetch.r[" + std::to_string(i) + "]");
        snapshot = std::move(b).build();
        context.hook = hook;
        context.service_id = "magnesium-" + hook;
        context.now = at(now_text);
        context.patient_id = "p1";
        for (auto const& v : drafts) {
            cds::fhir::issue_list issues;
            auto o = cds::fhir::parse_medication_order(v, "context.draftOrders", issues);
            REQUIRE(o.has_value());
            context.draft_orders.push_back(std::move(*o));
        }
        f = cds::rules::build_findings(snapshot, context, data(),
                                       cds::rules::trace_recorder(trace));
    }
    [[nodiscard]] bool traced(std::string const& subject, std::string const& words) const {
        for (auto const& t : trace) {
            if (t.subject == subject && t.message.find(words) != std::string::npos) return true;
        }
        return false;
    }
};

bj::value mg_result(bj::value value,
                    std::string const& unit,
                    std::string const& comparator = "",
                    std::string const& when = "2025-03-10T10:00:00Z") {
    bj::object q{{"value", std::move(value)},
                 {"unit", unit},
                 {"system", "http://unitsofmeasure.org"},
                 {"code", unit}};
    if (!comparator.empty()) q["comparator"] = comparator;
    return bj::object{
        {"resourceType", "Observation"},
        {"id", "mg1"},
        {"status", "final"},
        {"code", bj::object{{"coding", bj::array{coding("http://loinc.org", "19123-9")}}}},
        {"subject", bj::object{{"reference", "Patient/p1"}}},
        {"effectiveDateTime", when},
        {"valueQuantity", q}};
}

// What the record says about one Mg result: a level, or "not counted".
std::string outcome_of(read_record const& r) {
    if (!r.f.magnesium.latest) return "not counted";
    switch (r.f.magnesium.level) {
        case mg_level::severe:
            return "severe";
        case mg_level::mild_moderate:
            return "mild_moderate";
        case mg_level::normal:
            return "normal";
        case mg_level::high:
            return "high";
    }
    return "?";
}

std::string classify_reported(bj::value value,
                              std::string const& unit,
                              std::string const& comparator) {
    read_record const r({patient(), mg_result(std::move(value), unit, comparator)});
    return outcome_of(r);
}

// A decimal written as digits and a scale: 4936, 4 is 0.4936.
struct decimal {
    std::int64_t digits;
    int scale;
};

std::int64_t pow10(int n) {
    std::int64_t p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

std::string text_of(decimal d) {
    std::string s = std::to_string(d.digits < 0 ? -d.digits : d.digits);
    if (d.scale > 0) {
        if (static_cast<int>(s.size()) <= d.scale)
            s.insert(0, static_cast<std::size_t>(d.scale) + 1 - s.size(), '0');
        s.insert(s.size() - static_cast<std::size_t>(d.scale), ".");
    }
    return d.digits < 0 ? "-" + s : s;
}

bj::value json_number(decimal d) { return bj::parse(text_of(d)); }

// The rules read with integers only (no floating point), from CLINICAL-BASIS.md §1, §2 and §7:
// mg/dL in ten-thousandths (half away from zero), plausibility, comparators, thresholds.
std::string reference_outcome(std::int64_t mg_dl_1e4, std::string const& comparator) {
    if (mg_dl_1e4 < 1'000 || mg_dl_1e4 > 200'000) return "not counted";  // implausible
    auto level = [](std::int64_t v) -> std::string {
        if (v < 12'000) return "severe";
        if (v < 18'000) return "mild_moderate";
        if (v <= 25'000) return "normal";
        return "high";
    };
    if (comparator.empty()) return level(mg_dl_1e4);
    if (comparator == "<") {
        if (mg_dl_1e4 > 18'000) return "not counted";
        return mg_dl_1e4 <= 12'000 ? "severe" : "mild_moderate";
    }
    if (comparator == "<=") return mg_dl_1e4 > 18'000 ? "not counted" : level(mg_dl_1e4);
    if (comparator == ">") return mg_dl_1e4 < 25'000 ? "not counted" : "high";
    return mg_dl_1e4 < 25'000 ? "not counted" : level(mg_dl_1e4);  // ">="
}

struct mg_unit {
    char const* unit;
    decimal factor;  // to mg/dL
};
constexpr mg_unit mg_units[] = {
    {"mg/dL", {1, 0}}, {"mg/L", {1, 1}}, {"mmol/L", {2431, 3}}, {"mEq/L", {12155, 4}}};

// The exact product value × factor (a decimal), and the same rounded to ten-thousandths.
decimal exact_mg_dl(decimal value, decimal factor) {
    return {value.digits * factor.digits, value.scale + factor.scale};
}
std::int64_t ten_thousandths_of(decimal d) {
    if (d.scale <= 4) return d.digits * pow10(4 - d.scale);
    std::int64_t const div = pow10(d.scale - 4);
    std::int64_t const mag = d.digits < 0 ? -d.digits : d.digits;
    std::int64_t const rounded = (mag + div / 2) / div;
    return d.digits < 0 ? -rounded : rounded;
}

constexpr char const* comparators[] = {"", "<", "<=", ">", ">="};

}  // namespace

TEST_CASE("compare_as_decimal: conversions and estimates land on the decimal they are") {
    using cds::rules::compare_as_decimal;
    CHECK(12 * 0.1 != 1.2);  // why the helper exists
    CHECK(compare_as_decimal(12 * 0.1, 1.2) == 0);
    CHECK(compare_as_decimal(60 * 50.4 / (72 * 2.1), 20.0) == 0);
    CHECK(compare_as_decimal(1.19994, 1.2) < 0);
    CHECK(compare_as_decimal(1.19996, 1.2) == 0);  // rounded to 4 places before comparing (§7)
    CHECK(compare_as_decimal(1.19995, 1.2) == 0);  // a tie rounds half away from zero
    CHECK(compare_as_decimal(11.9995 * 0.1, 1.2) == 0);  // however the product's binary value lands
    CHECK(compare_as_decimal(1.19994999, 1.2) < 0);
    CHECK(compare_as_decimal(-0.00004, 0.0) == 0);
    CHECK(compare_as_decimal(-0.0001, 0.0) < 0);
    CHECK(compare_as_decimal(1e300, 500) > 0);
    CHECK(compare_as_decimal(-1e300, 0) < 0);
}

TEST_CASE(
    "every magnesium threshold, in every unit, with every comparator, lands where the rules say") {
    // Values exactly on 1.2, 1.8 and 2.5 mg/dL where the unit can write them, and the reporting
    // steps either side; in mmol/L and mEq/L (no finite decimal is exactly on an edge) the
    // values whose converted decimal is nearest each edge.
    std::vector<std::pair<std::string, decimal>> cases = {
        {"mg/dL", {12, 1}},     {"mg/dL", {119, 2}},   {"mg/dL", {121, 2}},
        {"mg/dL", {18, 1}},     {"mg/dL", {179, 2}},   {"mg/dL", {181, 2}},
        {"mg/dL", {25, 1}},     {"mg/dL", {249, 2}},   {"mg/dL", {251, 2}},
        {"mg/L", {12, 0}},      {"mg/L", {119, 1}},    {"mg/L", {121, 1}},
        {"mg/L", {18, 0}},      {"mg/L", {179, 1}},    {"mg/L", {181, 1}},
        {"mg/L", {25, 0}},      {"mg/L", {249, 1}},    {"mg/L", {251, 1}},
        {"mmol/L", {4936, 4}},  {"mmol/L", {4937, 4}}, {"mmol/L", {49, 2}},
        {"mmol/L", {50, 2}},    {"mmol/L", {7404, 4}}, {"mmol/L", {7405, 4}},
        {"mmol/L", {74, 2}},    {"mmol/L", {75, 2}},   {"mmol/L", {10283, 4}},
        {"mmol/L", {10284, 4}}, {"mmol/L", {103, 2}},  {"mEq/L", {9872, 4}},
        {"mEq/L", {9873, 4}},   {"mEq/L", {98, 2}},    {"mEq/L", {99, 2}},
        {"mEq/L", {14808, 4}},  {"mEq/L", {14809, 4}}, {"mEq/L", {20567, 4}},
        {"mEq/L", {20568, 4}},  {"mEq/L", {205, 2}},   {"mEq/L", {206, 2}},
    };
    // Plain references, not structured bindings: clang 14 cannot capture those in the lambdas
    // doctest's CAPTURE and CHECK expand to.
    for (auto const& [unit_, value_] : cases) {
        auto const& unit = unit_;
        auto const& value = value_;
        decimal factor{};
        for (auto const& u : mg_units) {
            if (unit == u.unit) factor = u.factor;
        }
        std::int64_t const expected_1e4 = ten_thousandths_of(exact_mg_dl(value, factor));
        for (char const* cmp : comparators) {
            CAPTURE(unit);
            CAPTURE(text_of(value));
            CAPTURE(cmp);
            CHECK(classify_reported(json_number(value), unit, cmp) ==
                  reference_outcome(expected_1e4, cmp));
        }
    }
}

TEST_CASE("the issue's cases: <12 mg/L is severe, like <1.2 mg/dL; 12 mg/L is 1.2 exactly") {
    CHECK(classify_reported(12, "mg/L", "<") == "severe");
    CHECK(classify_reported(1.2, "mg/dL", "<") == "severe");
    CHECK(classify_reported(12, "mg/L", "") == "mild_moderate");
    CHECK(classify_reported(18, "mg/L", "") == "normal");
    CHECK(classify_reported(18, "mg/L", "<") == "mild_moderate");
    CHECK(classify_reported(25, "mg/L", ">") == "high");
    CHECK(classify_reported(25, "mg/L", ">=") == "normal");
}

TEST_CASE(
    "property: a Mg result classifies as the same quantity written in mg/dL, and as the rules read "
    "in integers") {
    std::mt19937_64 random(20261203);  // fixed seed: the same cases on every run
    constexpr double thresholds[] = {1.2, 1.8, 2.5, 0.1, 20};
    int cases = 0;
    for (int i = 0; i < 6000; ++i) {
        auto const& u = mg_units[random() % std::size(mg_units)];
        int const scale = static_cast<int>(random() % 4);  // 0 to 3 decimals as reported
        double const factor =
            static_cast<double>(u.factor.digits) / static_cast<double>(pow10(u.factor.scale));
        // Half the cases near a threshold, half anywhere from 0 to 4 mg/dL.
        double const target = (i % 2 == 0)
                                  ? thresholds[random() % std::size(thresholds)] +
                                        (static_cast<double>(random() % 2001) - 1000) / 20000
                                  : static_cast<double>(random() % 40001) / 10000;
        auto const digits =
            static_cast<std::int64_t>(target / factor * static_cast<double>(pow10(scale)) + 0.5);
        decimal const reported{digits < 0 ? 0 : digits, scale};
        decimal const in_mg_dl = exact_mg_dl(reported, u.factor);
        char const* cmp = comparators[random() % std::size(comparators)];
        CAPTURE(u.unit);
        CAPTURE(text_of(reported));
        CAPTURE(text_of(in_mg_dl));
        CAPTURE(cmp);
        std::string const as_reported = classify_reported(json_number(reported), u.unit, cmp);
        CHECK(as_reported == classify_reported(json_number(in_mg_dl), "mg/dL", cmp));
        CHECK(as_reported == reference_outcome(ten_thousandths_of(in_mg_dl), cmp));
        ++cases;
    }
    CHECK(cases == 6000);
}

TEST_CASE(
    "a comparator that cannot classify never counts, the trace and the card say why, and an older "
    "result counts") {
    for (auto const& [value_, cmp_] : std::vector<std::pair<double, std::string>>{
             {2.0, ">"}, {2.4, ">="}, {1.9, "<"}, {2.0, "<="}}) {
        auto const& value = value_;
        auto const& cmp = cmp_;
        CAPTURE(cmp);
        CAPTURE(value);
        read_record const r({patient(), mg_result(value, "mg/dL", cmp)});
        CHECK_FALSE(r.f.magnesium.latest.has_value());
        REQUIRE(r.f.magnesium.skipped.size() == 1);
        CHECK(contains(r.f.magnesium.skipped[0], "says neither low nor normal"));
        CHECK(r.traced("Observation/mg1", "says neither low nor normal"));
    }
    request q;
    bj::value newer = mg_result(2.0, "mg/dL", ">", "2025-03-10T10:00:00Z");
    newer.as_object()["id"] = "mg-bound";
    q.resources = {patient(), newer, magnesium(1.1, "2025-03-09T10:00:00Z")};
    auto const o = run(q);
    REQUIRE(o.cards().size() == 1);
    CHECK(indicator(o.card(0)) == "critical");  // the older 1.1 counts: the bound shadows nothing
    CHECK_FALSE(contains(detail(o.card(0)), "Observation/mg-bound"));  // said without its id (§5)
    CHECK(contains(detail(o.card(0)), "says neither low nor normal"));
}

TEST_CASE(
    "renal band edges: Cockcroft-Gault of exactly 20, 30 and 60 mL/min starts its band, in every "
    "unit") {
    // Male 80 y, 50.4 kg: CG = 3024 / (72 × creatinine); female × 0.85; and 68 y, 100 lb (45.36
    // kg).
    struct edge {
        char const* birth;
        char const* gender;
        double weight;
        char const* weight_unit;
        double creatinine;
        char const* creatinine_unit;
        renal_band on_edge;
    };
    std::vector<edge> const edges = {
        {"1945-01-01", "male", 50.4, "kg", 2.1, "mg/dL", renal_band::severely_impaired},
        {"1945-01-01", "male", 50.4, "kg", 1.4, "mg/dL", renal_band::impaired},
        {"1945-01-01", "male", 50.4, "kg", 0.7, "mg/dL", renal_band::normal},
        {"1945-01-01", "male", 50400, "g", 185.64, "umol/L", renal_band::severely_impaired},
        {"1945-01-01", "male", 50400, "g", 123.76, "\xC2\xB5mol/L",
         renal_band::impaired},  // µ U+00B5
        {"1945-01-01", "male", 50.4, "kg", 61.88, "\xCE\xBCmol/L", renal_band::normal},  // μ U+03BC
        {"1945-01-01", "female", 50.4, "kg", 1.785, "mg/dL", renal_band::severely_impaired},
        {"1945-01-01", "female", 50.4, "kg", 1.19, "mg/dL", renal_band::impaired},
        {"1945-01-01", "female", 50.4, "kg", 0.595, "mg/dL", renal_band::normal},
        {"1957-01-01", "male", 100, "[lb_av]", 2.268, "mg/dL", renal_band::severely_impaired},
        {"1957-01-01", "male", 100, "[lb_av]", 133.6608, "umol/L", renal_band::impaired},
        {"1957-01-01", "male", 100, "[lb_av]", 0.756, "mg/dL", renal_band::normal},
        {"1957-01-01", "female", 100, "[lb_av]", 1.9278, "mg/dL", renal_band::severely_impaired},
        {"1957-01-01", "female", 100, "[lb_av]", 1.2852, "mg/dL", renal_band::impaired},
        {"1957-01-01", "female", 100, "[lb_av]", 56.80584, "umol/L", renal_band::normal},
    };
    for (auto const& e : edges) {
        CAPTURE(e.gender);
        CAPTURE(e.weight_unit);
        CAPTURE(e.creatinine);
        CAPTURE(e.creatinine_unit);
        read_record const on(
            {patient(e.birth, e.gender),
             observation("wt1", "29463-7", e.weight, e.weight_unit, "2025-03-01"),
             observation("cr1", "2160-0", e.creatinine, e.creatinine_unit, "2025-03-09")});
        REQUIRE(on.f.renal.used.has_value());
        CHECK(static_cast<int>(on.f.renal.band) == static_cast<int>(e.on_edge));
        // A creatinine one reporting step higher puts the estimate just below the edge.
        read_record const below(
            {patient(e.birth, e.gender),
             observation("wt1", "29463-7", e.weight, e.weight_unit, "2025-03-01"),
             observation("cr1", "2160-0", e.creatinine * 1.001, e.creatinine_unit, "2025-03-09")});
        CHECK(static_cast<int>(below.f.renal.band) == static_cast<int>(e.on_edge) + 1);
    }
}

TEST_CASE("computed values are shown to one decimal") {
    CHECK(cds::rules::format_computed(3024 / (72 * 2.1)) == "20.0");
    CHECK(cds::rules::format_computed(34.44) == "34.4");
    CHECK(cds::rules::format_computed(150 / 88.4) == "1.7");
    CHECK(cds::rules::format_computed(0) == "0.0");
}

TEST_CASE("band_for at every edge, as decimals") {
    auto const& d = data();
    CHECK(cds::rules::band_for(3024 / (72 * 2.1), d) == renal_band::severely_impaired);
    CHECK(cds::rules::band_for(3024 / (72 * 1.4), d) == renal_band::impaired);
    CHECK(cds::rules::band_for(3024 / (72 * 0.7), d) == renal_band::normal);
    CHECK(cds::rules::band_for(59.9999, d) == renal_band::impaired);
    CHECK(cds::rules::band_for(29.9999, d) == renal_band::severely_impaired);
    CHECK(cds::rules::band_for(19.9999, d) == renal_band::contraindicated);
}

TEST_CASE("implausible values never count and are said; the bounds are configuration") {
    // Magnesium 0.1 to 20 mg/dL in every unit.
    for (auto const& [value_, unit_, counts_] :
         std::vector<std::tuple<double, std::string, bool>>{{0.1, "mg/dL", true},
                                                            {0.0999, "mg/dL", false},
                                                            {20, "mg/dL", true},
                                                            {20.0001, "mg/dL", false},
                                                            {0, "mg/dL", false},
                                                            {-5, "mg/dL", false},
                                                            {1e-300, "mg/dL", false},
                                                            {1, "mg/L", true},
                                                            {0.99, "mg/L", false},
                                                            {200, "mg/L", true},
                                                            {200.01, "mg/L", false},
                                                            {8.227, "mmol/L", true},
                                                            {8.2271, "mmol/L", false},
                                                            {16.4541, "mEq/L", true},
                                                            {16.4542, "mEq/L", false}}) {
        auto const& value = value_;
        auto const& unit = unit_;
        auto const& counts = counts_;
        CAPTURE(value);
        CAPTURE(unit);
        read_record const r({patient(), mg_result(value, unit)});
        CHECK(r.f.magnesium.latest.has_value() == counts);
        if (!counts) {
            REQUIRE(r.f.magnesium.skipped.size() == 1);
            CHECK(contains(r.f.magnesium.skipped[0], "implausible"));
        }
    }
    // Creatinine above 0; weight above 0 up to 500 kg, in kg, lb and g.
    for (auto const& [value_, unit_, counts_] :
         std::vector<std::tuple<double, std::string, bool>>{{0, "mg/dL", false},
                                                            {-1, "mg/dL", false},
                                                            {0.0001, "mg/dL", true},
                                                            {0, "umol/L", false},
                                                            {1, "umol/L", true}}) {
        auto const& value = value_;
        auto const& unit = unit_;
        auto const& counts = counts_;
        CAPTURE(value);
        CAPTURE(unit);
        read_record const r(
            {patient(), weight(70), observation("cr1", "2160-0", value, unit, "2025-03-09")});
        CHECK(r.f.renal.used.has_value() == counts);
        CHECK(r.traced("Observation/cr1", "implausible") == !counts);
    }
    for (auto const& [value_, unit_, counts_] :
         std::vector<std::tuple<double, std::string, bool>>{{500, "kg", true},
                                                            {500.0001, "kg", false},
                                                            {0, "kg", false},
                                                            {-70, "kg", false},
                                                            {1102.29, "[lb_av]", true},
                                                            {1102.3, "[lb_av]", false},
                                                            {0, "[lb_av]", false},
                                                            {500000, "g", true},
                                                            {500001, "g", false}}) {
        auto const& value = value_;
        auto const& unit = unit_;
        auto const& counts = counts_;
        CAPTURE(value);
        CAPTURE(unit);
        read_record const r(
            {patient(), observation("wt1", "29463-7", value, unit, "2025-03-01"), creatinine(1.0)});
        CHECK(r.f.weight.has_value() == counts);
        if (!counts) {
            CHECK(r.traced("Observation/wt1", "implausible"));
            REQUIRE_FALSE(r.f.unavailable.empty());
            CHECK(contains(r.f.unavailable.back(), "implausible"));
        }
    }
    // The bound comes from the rule file.
    auto const& d = data();
    CHECK(d.implausible.magnesium_below_mg_dl == 0.1);
    CHECK(d.implausible.magnesium_above_mg_dl == 20);
    CHECK(d.implausible.weight_above_kg == 500);
}

TEST_CASE("implausible Mg gives no card; the issue's -5, 0 and 1e-400 mg/dL") {
    for (char const* text : {"-5", "0", "1e-400"}) {
        CAPTURE(text);
        request q;
        q.resources = {patient(), mg_result(bj::parse(text), "mg/dL")};
        auto const o = run(q);
        CHECK(o.cards().empty());
    }
}

TEST_CASE("a result dated more than 24 hours after the hook's time never counts and is said") {
    read_record const edge(
        {patient(), mg_result(1.1, "mg/dL", "", "2025-03-11T12:00:00Z")});  // exactly 24 h ahead
    CHECK(edge.f.magnesium.latest.has_value());
    read_record const future({patient(), mg_result(1.1, "mg/dL", "", "2025-03-11T12:00:01Z"),
                              magnesium(1.5, "2025-03-09T12:00:00Z", "mg/dL", "mg-older")});
    REQUIRE(future.f.magnesium.latest.has_value());
    CHECK(future.f.magnesium.latest->reported_value == 1.5);
    REQUIRE(future.f.magnesium.skipped.size() == 1);
    CHECK(contains(future.f.magnesium.skipped[0], "after the hook's time"));
    read_record const far({patient(), mg_result(1.1, "mg/dL", "", "2099-01-01")});
    CHECK_FALSE(far.f.magnesium.latest.has_value());
    CHECK(far.traced("Observation/mg1", "after the hook's time"));
}

TEST_CASE(
    "another patient's resources never count, from the record or the draft orders, and no card "
    "says so") {
    auto other = [](bj::value v, char const* key = "subject") {
        v.as_object().erase("subject");
        v.as_object()[key] = bj::object{{"reference", "Patient/other"}};
        return v;
    };
    read_record const r({patient(), other(magnesium(1.0)),
                         other(condition("c1", snomed, "58382001", "Tetany", "2025-03-09")),
                         other(med_request("mr1", "active", furosemide())), other(weight(70)),
                         other(creatinine(1.0))},
                        {other(med_request("draft1", "draft", furosemide()))}, "order-sign");
    CHECK_FALSE(r.f.magnesium.latest.has_value());
    CHECK(r.f.magnesium.skipped.empty());  // dropped silently: not a data gap of this patient
    CHECK(r.f.unavailable.empty());
    CHECK(r.f.symptoms.empty());
    CHECK(r.f.exposures.empty());
    CHECK_FALSE(r.f.weight.has_value());
    CHECK(r.f.renal.candidates.empty());
    for (char const* ref :
         {"Observation/mg1", "Condition/c1", "MedicationRequest/mr1", "MedicationRequest/draft1"}) {
        CAPTURE(ref);
        CHECK(r.traced(ref, "patient other than context.patientId"));
    }
    // An absolute reference and the DSTU2 `patient` member name the patient too.
    bj::value absolute = magnesium(1.0);
    absolute.as_object()["subject"] =
        bj::object{{"reference", "https://ehr.example.org/fhir/Patient/other"}};
    CHECK_FALSE(read_record({patient(), absolute}).f.magnesium.latest.has_value());
    CHECK(read_record({patient(), other(condition("c2", snomed, "58382001", "Tetany", "2025-03-09"),
                                        "patient")})
              .f.symptoms.empty());
    // The context patient's own, or no subject at all: counted.
    bj::value own = magnesium(1.0);
    own.as_object()["subject"] =
        bj::object{{"reference", "https://ehr.example.org/fhir/Patient/p1/_history/2"}};
    CHECK(read_record({patient(), own}).f.magnesium.latest.has_value());
    bj::value none = magnesium(1.0);
    none.as_object().erase("subject");
    CHECK(read_record({patient(), none}).f.magnesium.latest.has_value());

    request q;
    q.resources = {patient(), other(magnesium(1.0))};
    CHECK(run(q).cards().empty());
}

TEST_CASE("a Patient resource that is not the context patient is not used for age or sex") {
    bj::value p = patient("1950-01-01", "male");
    p.as_object()["id"] = "other";
    read_record const r({p});
    CHECK_FALSE(r.f.age_years.has_value());
    CHECK_FALSE(r.f.gender_present);
    CHECK(r.traced("Patient/other", "not context.patientId"));
}

TEST_CASE("a Condition's date is its onset; recordedDate only when no onset is given") {
    auto seizure = [](std::string const& onset, std::string const& recorded) {
        bj::value c = condition("c1", snomed, "91175000", "Seizure", onset);
        if (!recorded.empty()) c.as_object()["recordedDate"] = recorded;
        return c;
    };
    CHECK(read_record({patient(), seizure("2015-01-01", "2025-03-09")})
              .f.symptoms.empty());  // epilepsy years ago, recorded yesterday
    CHECK(read_record({patient(), seizure("2025-03-09", "2015-01-01")}).f.symptomatic);
    CHECK(read_record({patient(), seizure("", "2025-03-09")}).f.symptomatic);
    CHECK(read_record({patient(), seizure("", "2025-01-01")}).f.symptoms.empty());
    bj::value period = seizure("", "2025-03-09");
    period.as_object()["onsetPeriod"] = bj::object{{"start", "2010-05-01"}, {"end", "2025-03-09"}};
    CHECK(read_record({patient(), period}).f.symptoms.empty());
    bj::value undated_onset = seizure("", "2025-03-09");
    undated_onset.as_object()["onsetString"] = "childhood";
    CHECK(read_record({patient(), undated_onset}).f.symptoms.empty());
}

TEST_CASE(
    "text matching: terms of five letters or more match inside words, shorter ones whole words "
    "only") {
    auto const& d = data();
    CHECK(d.vs("ckd_stage5_or_dialysis").matches_text("hemodialysis"));
    CHECK(d.vs("ckd_stage5_or_dialysis").matches_text("end stage renal disease on haemodialysis"));
    CHECK(d.vs("ckd_stage5_or_dialysis").matches_text("peritonealdialysis dependent"));
    CHECK_FALSE(
        d.vs("ckd_stage5_or_dialysis").matches_text("esrdx"));  // four letters: whole word only
    CHECK(d.vs("route_intramuscular").matches_text("im"));
    CHECK_FALSE(d.vs("route_intramuscular").matches_text("impaired swimming"));
    CHECK(d.vs("route_oral").matches_text("po"));
    CHECK_FALSE(d.vs("route_oral").matches_text("potassium"));
    CHECK_FALSE(d.vs("form_oral_solid").matches_text("tabulated"));
    CHECK(d.vs("form_oral_solid").matches_text("film-coated tablets"));

    read_record const r({patient(), condition("c1", snomed, "", "Hemodialysis dependence")});
    CHECK(r.f.renal.ckd5 != nullptr);
}
