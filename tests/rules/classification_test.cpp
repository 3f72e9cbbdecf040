// Logic units: magnesium classification (every threshold edge and comparator), unit
// conversions, renal bands, Cockcroft-Gault, value-set matching, medication classification.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/text.hpp"
#include "findings.hpp"
#include "helpers.hpp"

using namespace rules_test;
using cds::fhir::quantity_comparator;
using cds::rules::mg_level;
using cds::rules::renal_band;

namespace {
cds::rules::rule_set_data const& data() { return bundled()->data(); }

char const* name(mg_level l) {
    switch (l) {
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
}  // namespace

TEST_CASE("magnesium classification at every threshold edge, with comparators") {
    auto check = [](double v, quantity_comparator c, mg_level expected) {
        CAPTURE(v);
        CAPTURE(static_cast<int>(c));
        CHECK(std::string(name(cds::rules::classify_magnesium(v, c, data()))) == name(expected));
    };
    using qc = quantity_comparator;
    check(0.5, qc::none, mg_level::severe);
    check(1.19, qc::none, mg_level::severe);
    check(1.2, qc::none, mg_level::mild_moderate);
    check(1.2, qc::less, mg_level::severe);                  // "<1.2": strictly below 1.2
    check(1.2, qc::less_or_equal, mg_level::mild_moderate);  // "<=1.2" is classified as 1.2
    check(1.79, qc::none, mg_level::mild_moderate);
    check(1.8, qc::none, mg_level::normal);
    check(1.8, qc::less, mg_level::mild_moderate);
    check(2.5, qc::none, mg_level::normal);
    check(2.5, qc::greater_or_equal, mg_level::normal);
    check(2.5, qc::greater, mg_level::high);  // ">2.5" is hypermagnesemia
    check(2.51, qc::none, mg_level::high);
}

TEST_CASE("classification is monotonic in the magnesium value") {
    int previous = 0;
    for (int i = 1; i <= 500; ++i) {
        double const v = i * 0.01;
        int const level =
            static_cast<int>(cds::rules::classify_magnesium(v, quantity_comparator::none, data()));
        CAPTURE(v);
        CHECK(level >= previous);
        previous = level;
    }
    CHECK(previous == static_cast<int>(mg_level::high));
}

TEST_CASE("magnesium units convert to mg/dL; unknown units are never guessed") {
    auto const& t = data().magnesium_mg_dl;
    auto check = [&](double v, char const* unit, double expected) {
        CAPTURE(unit);
        auto r = t.convert(v, unit);
        REQUIRE(r.has_value());
        CHECK(*r == doctest::Approx(expected).epsilon(1e-9));
    };
    check(1.1, "mg/dL", 1.1);
    check(11, "mg/L", 1.1);
    check(0.45, "mmol/L", 1.09395);
    check(1.0, "mEq/L", 1.2155);
    check(1.0, "meq/L", 1.2155);
    check(2.0, "MG/DL", 2.0);
    CHECK_FALSE(t.convert(1.0, "g/L").has_value());
    CHECK_FALSE(t.convert(1.0, "").has_value());
}

TEST_CASE("unit conversions round-trip through their factors") {
    for (auto const* table : {&data().magnesium_mg_dl, &data().creatinine_mg_dl,
                              &data().calcium_total_mg_dl, &data().calcium_ionized_mmol_l,
                              &data().weight_kg, &data().qtc_ms, &data().potassium_mmol_l}) {
        for (auto const& f : table->factors()) {
            CAPTURE(f.unit);
            for (double v : {0.3, 1.0, 1.7, 88.4, 450.0}) {
                auto const there = table->convert(v, f.unit);
                REQUIRE(there.has_value());
                CHECK(*there / f.factor == doctest::Approx(v).epsilon(1e-12));
            }
        }
    }
    // The other units of CLINICAL-BASIS.md §1.
    CHECK(*data().creatinine_mg_dl.convert(88.4, "umol/L") == doctest::Approx(1.0));
    CHECK(*data().calcium_total_mg_dl.convert(2.0, "mmol/L") == doctest::Approx(8.016));
    CHECK(*data().calcium_ionized_mmol_l.convert(4.008, "mg/dL") == doctest::Approx(1.0));
    CHECK(*data().weight_kg.convert(100, "[lb_av]") == doctest::Approx(45.36));
    CHECK(*data().weight_kg.convert(70000, "g") == doctest::Approx(70));
    CHECK(*data().qtc_ms.convert(0.52, "s") == doctest::Approx(520));
    CHECK(*data().potassium_mmol_l.convert(3.2, "mEq/L") == doctest::Approx(3.2));
}

TEST_CASE("renal bands at their edges") {
    auto check = [](double v, renal_band expected) {
        CAPTURE(v);
        CHECK(static_cast<int>(cds::rules::band_for(v, data())) == static_cast<int>(expected));
    };
    check(120, renal_band::normal);
    check(60, renal_band::normal);
    check(59.5, renal_band::impaired);
    check(30, renal_band::impaired);
    check(29.9, renal_band::severely_impaired);
    check(20.0, renal_band::severely_impaired);
    check(19.99, renal_band::contraindicated);
    check(0, renal_band::contraindicated);
}

TEST_CASE("Cockcroft-Gault numbers") {
    // (140 - 60) x 70 / (72 x 1.0) = 77.78 mL/min; female x 0.85 = 66.11.
    CHECK(cds::rules::cockcroft_gault(60, 70, 1.0, 1.0, data()) ==
          doctest::Approx(77.7778).epsilon(1e-4));
    CHECK(cds::rules::cockcroft_gault(60, 70, 1.0, 0.85, data()) ==
          doctest::Approx(66.1111).epsilon(1e-4));
    // 80 years, 60 kg, creatinine 1.5 mg/dL, male: 60 x 60 / 108 = 33.33.
    CHECK(cds::rules::cockcroft_gault(80, 60, 1.5, 1.0, data()) ==
          doctest::Approx(33.3333).epsilon(1e-4));
}

TEST_CASE("age in completed years at the evaluation time") {
    auto birth = [](char const* t) { return *cds::fhir::parse_date_time(t).value; };
    CHECK(*cds::rules::age_in_years(birth("1955-06-01"), at("2025-03-10T12:00:00Z")) == 69);
    CHECK(*cds::rules::age_in_years(birth("1955-03-10"), at("2025-03-10T12:00:00Z")) == 70);
    CHECK(*cds::rules::age_in_years(birth("1955-03-11"), at("2025-03-10T12:00:00Z")) == 69);
    CHECK(*cds::rules::age_in_years(birth("2008"), at("2025-03-10T12:00:00Z")) == 17);
    CHECK_FALSE(
        cds::rules::age_in_years(birth("2030-01-01"), at("2025-03-10T12:00:00Z")).has_value());
}

TEST_CASE(
    "value sets: exact codes, ATC prefixes under both system URIs, ICD-10 categories, words") {
    auto const& d = data();
    auto c = [](std::string s, std::string code) {
        return cds::fhir::coding{std::move(s), std::move(code), ""};
    };
    CHECK(d.vs("loop_diuretic").matches(c(rxnorm, "4603")));
    CHECK(d.vs("loop_diuretic").matches(c(atc, "C03CA01")));
    CHECK(d.vs("loop_diuretic").matches(c("http://fhir.de/CodeSystem/bfarm/atc", "C03CA04")));
    CHECK(d.vs("loop_diuretic").matches(c(atc, "C03CA99")));  // any member of the C03CA group
    CHECK_FALSE(d.vs("loop_diuretic").matches(c(atc, "C03C")));
    CHECK_FALSE(d.vs("loop_diuretic").matches(c("http://example.org/atc", "C03CA01")));
    CHECK(d.vs("proton_pump_inhibitor").matches(c(atc, "A02BC02")));
    CHECK(d.vs("preeclampsia_eclampsia").matches(c("http://hl7.org/fhir/sid/icd-10-cm", "O14.13")));
    CHECK(d.vs("ckd_stage5_or_dialysis").matches(c("http://hl7.org/fhir/sid/icd-10-cm", "N18.6")));
    CHECK_FALSE(
        d.vs("ckd_stage5_or_dialysis").matches(c("http://hl7.org/fhir/sid/icd-10-cm", "N18.4")));
    CHECK(d.vs("magnesium_total").matches(c("http://loinc.org", "2601-3")));
    // Words match whole words only, and exclusion words win.
    CHECK(d.vs("magnesium_total").matches_text("serum magnesium"));
    CHECK_FALSE(d.vs("magnesium_total").matches_text("ionized magnesium, serum magnesium"));
    CHECK(d.vs("route_intravenous").matches_text("iv push"));
    CHECK_FALSE(d.vs("route_intravenous").matches_text("ivermectin"));
    CHECK(d.vs("tetany").matches_text("tetany"));
}

TEST_CASE("code look-up: bits of every list a coding is in, prefixes, systems compared exactly") {
    cds::rules::code_lookup lookup;
    lookup.add("http://loinc.org", "19123-9", false, 1u << 0);
    lookup.add("http://loinc.org", "19123-9", false, 1u << 3);  // the same code in a second list
    lookup.add("http://www.whocc.no/atc", "C03CA", true, 1u << 1);
    lookup.add("http://www.whocc.no/atc", "C03", true, 1u << 2);
    lookup.add("http://example.org/other", "19123-9", false, 1u << 4);
    auto c = [](std::string s, std::string code) {
        return cds::fhir::coding{std::move(s), std::move(code), ""};
    };
    CHECK(lookup.match(c("http://loinc.org", "19123-9")) == ((1u << 0) | (1u << 3)));
    CHECK(lookup.match(c("http://example.org/other", "19123-9")) == (1u << 4));
    CHECK(lookup.match(c("http://loinc.org", "19123")) == 0);
    CHECK(lookup.match(c("http://LOINC.org", "19123-9")) == 0);
    CHECK(lookup.match(c("http://www.whocc.no/atc", "C03CA01")) == ((1u << 1) | (1u << 2)));
    CHECK(lookup.match(c("http://www.whocc.no/atc", "C03AA03")) == (1u << 2));
    CHECK(lookup.match(c("http://www.whocc.no/atc", "C0")) == 0);
    CHECK(lookup.match(c("", "19123-9")) == 0);
    CHECK(lookup.match(c("http://loinc.org", "")) == 0);
    cds::fhir::codeable_concept cc;
    cc.codings = {c("http://loinc.org", "19123-9"), c("http://www.whocc.no/atc", "C03AA03")};
    CHECK(lookup.match_any(cc) == ((1u << 0) | (1u << 2) | (1u << 3)));
    CHECK(lookup.match_any(cds::fhir::codeable_concept{}) == 0);
}

// The compiled look-ups must answer exactly what testing each list would: every configured
// code (and, for a prefix, a longer code in its group) is checked against every list.
TEST_CASE("compiled observation and drug-class look-ups agree with the lists one by one") {
    auto const& d = data();
    std::vector<cds::fhir::coding> probes;
    for (auto const& [list_name, set] : d.value_sets) {
        for (auto const& e : set.codes()) {
            probes.push_back({e.system, e.code, ""});
            if (e.prefix) probes.push_back({e.system, e.code + "01", ""});
            probes.push_back({"http://example.org/unknown", e.code, ""});
        }
    }
    REQUIRE(probes.size() > 300);
    REQUIRE(d.observation_kind_sets.size() == 11);
    REQUIRE(d.drug_class_sets.size() == 12);
    std::size_t observation_hits = 0, drug_hits = 0;
    for (auto const& probe : probes) {
        CAPTURE(probe.system);
        CAPTURE(probe.code);
        std::uint64_t const kind_bits = d.observation_kind_codes.match(probe);
        for (std::size_t i = 0; i < d.observation_kind_sets.size(); ++i) {
            bool const in_list = d.observation_kind_sets[i]->matches(probe);
            CHECK(((kind_bits >> i) & 1u) == (in_list ? 1u : 0u));
            observation_hits += in_list;
        }
        std::uint64_t const class_bits = d.drug_class_codes.match(probe);
        std::uint64_t expected = 0;
        for (auto const& [bit, set] : d.drug_class_sets) {
            if (set->matches(probe)) expected |= bit;
        }
        CHECK(class_bits == expected);
        drug_hits += expected != 0;
    }
    CHECK(observation_hits > 40);
    CHECK(drug_hits > 100);
    // The ionized kind is tested first (lowest bit), so an ionized result is never a total one.
    CHECK(d.observation_kind_sets[0] == &d.vs("magnesium_ionized"));
}

TEST_CASE("numbers in card text: printf's rounding, trailing zeros dropped") {
    using cds::rules::format_number;
    CHECK(format_number(1.0) == "1");
    CHECK(format_number(1.1) == "1.1");
    CHECK(format_number(0.45) == "0.45");
    CHECK(format_number(150) == "150");
    CHECK(format_number(2.675) == "2.67");  // 2.67499999... in binary
    CHECK(format_number(0.125) == "0.12");  // an exact tie rounds to even, as printf does
    CHECK(format_number(0.375) == "0.38");
    CHECK(format_number(2.5, 0) == "2");
    CHECK(format_number(3.5, 0) == "4");
    CHECK(format_number(-0.001) == "0");
    CHECK(format_number(-1.25, 1) == "-1.2");
    CHECK(format_number(std::nan("")) == "?");
    CHECK(cds::rules::format_measurement(1.0) == "1.0");
    CHECK(cds::rules::format_measurement(12.0) == "12");
    // The same text as printf("%.*f") with the zeros trimmed, over a sweep of values.
    for (int i = -20000; i <= 20000; i += 7) {
        double const v = i / 1000.0 + i * 1e-7;
        for (int decimals = 0; decimals <= 3; ++decimals) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
            std::string expected = buf;
            if (expected.find('.') != std::string::npos) {
                while (expected.back() == '0') expected.pop_back();
                if (expected.back() == '.') expected.pop_back();
            }
            if (expected == "-0") expected = "0";
            CAPTURE(v);
            CAPTURE(decimals);
            CHECK(format_number(v, decimals) == expected);
        }
    }
}

namespace {
cds::rules::medication_exposure classify(bj::object request) {
    cds::fhir::issue_list issues;
    static std::vector<cds::fhir::medication_order> keep;  // exposures point at the order
    auto o = cds::fhir::parse_medication_order(request, "t", issues);
    REQUIRE(o.has_value());
    cds::fhir::patient_snapshot empty;
    cds::fhir::resolve_medication(*o, empty, issues);
    keep.reserve(64);
    keep.push_back(std::move(*o));
    cds::rules::medication_exposure e;
    e.order = &keep.back();
    cds::rules::classify_medication(e, data());
    return e;
}
bj::array route(std::string const& code, std::string const& display, std::string const& text = "") {
    bj::object ds{{"route", concept_of(coding(snomed, code, display), display)}};
    if (!text.empty()) ds["text"] = text;
    return bj::array{ds};
}
}  // namespace

TEST_CASE("medication classification: codes, text fallback, route and dose form decide magnesium") {
    using cds::rules::mg_product;
    auto e = classify(med_request("a", "active", furosemide()));
    CHECK(e.is(cds::rules::dc_loop));
    CHECK(e.oral());

    e = classify(med_request("b", "active", bj::object{{"text", "Pantoprazole 40 mg tablet"}}));
    CHECK(e.is(cds::rules::dc_ppi));

    e = classify(med_request(
        "c", "active",
        concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate 2 g"),
        route("47625008", "Intravenous route (qualifier value)")));
    CHECK(e.magnesium == mg_product::parenteral);

    // A12CC02 is oral magnesium sulfate: the route decides, not the code.
    e = classify(med_request(
        "d", "active",
        concept_of(coding(atc, "A12CC02", "magnesium sulfate"), "Magnesium sulfate tablet"),
        route("26643006", "Oral route")));
    CHECK(e.magnesium == mg_product::oral_repletion);

    e = classify(med_request(
        "e", "active",
        concept_of(coding(atc, "A12CC10", "magnesium oxide"), "Magnesium oxide 400 mg tablet")));
    CHECK(e.magnesium == mg_product::oral_repletion);

    e = classify(med_request(
        "f", "active", bj::object{{"text", "Milk of magnesia (magnesium hydroxide) 400 mg/5 mL"}}));
    CHECK(e.magnesium == mg_product::laxative);

    e = classify(med_request(
        "g", "active", bj::object{{"text", "Magnesium citrate oral solution 1.745 g/30 mL"}}));
    CHECK(e.magnesium == mg_product::laxative);

    e = classify(
        med_request("h", "active",
                    concept_of(coding(rxnorm, "309309", "ciprofloxacin 500 MG Oral Tablet"),
                               "ciprofloxacin 500 MG Oral Tablet")));
    CHECK(e.is(cds::rules::dc_fluoroquinolone));
    CHECK(e.oral());

    e = classify(
        med_request("i", "active",
                    concept_of(coding(rxnorm, "1665497", "50 ML levofloxacin 5 MG/ML Injection"),
                               "levofloxacin injection")));
    CHECK(e.is(cds::rules::dc_fluoroquinolone));
    CHECK_FALSE(e.oral());

    e = classify(
        med_request("j", "active", concept_of(coding(rxnorm, "2555", "cisplatin"), "cisplatin")));
    CHECK(e.is(cds::rules::dc_high_risk));
    e = classify(
        med_request("k", "active", concept_of(coding(atc, "L04AD02", "tacrolimus"), "tacrolimus")));
    CHECK(e.is(cds::rules::dc_calcineurin));
    CHECK_FALSE(e.is(cds::rules::dc_high_risk));
}

TEST_CASE(
    "a magnesium enema is rectal: neither repletion nor oral magnesium, never IV magnesium "
    "sulfate") {
    using cds::rules::mg_product;
    using cds::rules::route_kind;
    // By the dose form in the name: "enema" is a liquid, but it is not taken by mouth.
    auto e = classify(med_request(
        "r1", "active",
        concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate enema 10%")));
    CHECK(e.route == route_kind::rectal);
    CHECK(e.magnesium == mg_product::laxative);
    CHECK_FALSE(e.oral());
    // By the route text: magnesium sulfate with no form would otherwise default to the injectable.
    bj::array ds{
        bj::object{{"route", bj::object{{"text", "rectal"}}}, {"text", "100 mL rectally once"}}};
    e = classify(med_request(
        "r2", "active",
        concept_of(coding(rxnorm, "6585", "Magnesium Sulfate"), "Magnesium sulfate"), ds));
    CHECK(e.route == route_kind::rectal);
    CHECK(e.magnesium == mg_product::laxative);
    // An antacid by mouth stays an oral laxative (counted as oral magnesium for chelation only).
    e = classify(med_request(
        "r3", "active",
        bj::object{
            {"text", "Milk of magnesia (magnesium hydroxide) 400 mg/5 mL oral suspension"}}));
    CHECK(e.magnesium == mg_product::laxative);
    CHECK(e.oral());
}
