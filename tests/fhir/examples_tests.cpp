// Parses every published FHIR example in fixtures/fhir-examples/ and checks concrete values:
// real systems' resources, not our own idea of them.

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "cds/fhir/snapshot.hpp"
#include "test_support.hpp"

using namespace cds::fhir;
using cds::fhir::test::describe;
using cds::fhir::test::utc;

namespace {

namespace fs = std::filesystem;

fs::path examples_dir() { return fs::path(CDS_FIXTURES_DIR) / "fhir-examples"; }

std::vector<fs::path> example_files() {
    std::vector<fs::path> files;
    if (!fs::is_directory(examples_dir())) return files;
    for (auto const& entry : fs::directory_iterator(examples_dir())) {
        if (entry.is_regular_file() && entry.path().extension() == ".json")
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

boost::json::value read_json(fs::path const& file) {
    return cds::fhir::test::read_json_file(file.string());
}

struct parsed_example {
    std::size_t taken = 0;
    patient_snapshot snapshot;
};

parsed_example parse_example(fs::path const& file) {
    snapshot_builder builder;
    parsed_example out;
    out.taken = builder.add(read_json(file), "example");
    out.snapshot = std::move(builder).build();
    return out;
}

constexpr std::string_view rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm";
constexpr std::string_view loinc = "http://loinc.org";
constexpr std::string_view snomed = "http://snomed.info/sct";
constexpr std::string_view bfarm_atc = "http://fhir.de/CodeSystem/bfarm/atc";
constexpr std::string_view ucum = "http://unitsofmeasure.org";

patient const& only_patient(parsed_example const& e) {
    REQUIRE(e.taken == 1);
    REQUIRE(e.snapshot.patient_record);
    return *e.snapshot.patient_record;
}

observation const& only_observation(parsed_example const& e) {
    REQUIRE(e.taken == 1);
    REQUIRE(e.snapshot.observations.size() == 1);
    return e.snapshot.observations[0];
}

medication_order const& only_order(parsed_example const& e) {
    REQUIRE(e.taken == 1);
    REQUIRE(e.snapshot.medication_orders.size() == 1);
    return e.snapshot.medication_orders[0];
}

medication const& only_medication(parsed_example const& e) {
    REQUIRE(e.taken == 1);
    REQUIRE(e.snapshot.medications.size() == 1);
    return e.snapshot.medications[0];
}

void check_patient(parsed_example const& e,
                   std::string_view id,
                   administrative_gender gender,
                   bool gender_present,
                   std::optional<date_time> birth_date) {
    auto const& p = only_patient(e);
    CHECK(p.id == id);
    CHECK(p.gender == gender);
    CHECK(p.gender_present == gender_present);
    CHECK(p.birth_date == birth_date);
}

date_time day(int y, unsigned m, unsigned d) {
    return date_time{utc(y, m, d), date_precision::day, false};
}

void check_lab(parsed_example const& e,
               std::string_view code,
               double value,
               std::string_view unit_key,
               instant result_time) {
    auto const& o = only_observation(e);
    CHECK(o.status == "final");
    CHECK(o.code.has_code(loinc, code));
    REQUIRE(o.value_quantity);
    REQUIRE(o.value_quantity->value);
    CHECK(*o.value_quantity->value == doctest::Approx(value));
    CHECK(o.value_quantity->comparator == quantity_comparator::none);
    CHECK(o.value_quantity->unit_key() == unit_key);
    REQUIRE(o.result_time());
    CHECK(o.result_time()->start == result_time);
    CHECK_FALSE(o.data_absent);
    CHECK_FALSE(o.has_value_other);
}

void check_mii_order(parsed_example const& e,
                     std::string_view reference,
                     instant authored,
                     std::string_view route) {
    auto const& r = only_order(e);
    CHECK(r.kind == medication_resource_kind::medication_request);
    CHECK(r.status == "active");
    CHECK(r.intent == "order");
    REQUIRE(r.medication_reference);
    CHECK(r.medication_reference->reference == reference);
    CHECK(r.medication_reference->kind == reference_kind::relative);
    CHECK(r.medication_reference->type == "Medication");
    REQUIRE(r.authored_on);
    CHECK(r.authored_on->start == authored);
    REQUIRE(r.dosages.size() == 1);
    CHECK(r.dosages[0].route.has_code("http://standardterms.edqm.eu", route));
    // The referenced Medication is a separate file: unresolved on its own, with a warning.
    CHECK_FALSE(r.medication_known);
    REQUIRE(e.snapshot.issues.size() == 1);
    CHECK(e.snapshot.issues[0].severity == issue_severity::warning);
    CHECK(e.snapshot.issues[0].path == "example.medicationReference");
}

using checker = std::function<void(parsed_example const&)>;
using checker_table = std::map<std::string, checker>;

checker_table unmodelled_and_patient_expectations() {
    return {
        // ------------------------------------------------------------ not modelled
        {"Encounter-mii-exa-test-data-patient-4-encounter-1.json",
         [](parsed_example const& e) { CHECK(e.taken == 0); }},
        {"uscore-enc.json", [](parsed_example const& e) { CHECK(e.taken == 0); }},

        // ------------------------------------------------------------ Patients
        {"Patient-mii-exa-test-data-patient-10.json",
         [](parsed_example const& e) {
             check_patient(e, "mii-exa-test-data-patient-10", administrative_gender::male, true,
                           day(1969, 9, 17));
         }},
        {"Patient-mii-exa-test-data-patient-4.json",
         [](parsed_example const& e) {
             // Year-only birthDate: the start of the year, at year precision.
             check_patient(e, "mii-exa-test-data-patient-4", administrative_gender::male, true,
                           date_time{utc(1962, 1, 1), date_precision::year, false});
         }},
        {"beers-patient.json",
         [](parsed_example const& e) {
             check_patient(e, "4aa75d19-ac8b-49b0-a686-429fbc033d77", administrative_gender::female,
                           true, day(1960, 1, 1));
         }},
        {"hwr-patient.json",
         [](parsed_example const& e) {
             check_patient(e, "6e20f297-39e7-4043-b1ae-c9226913b6f8", administrative_gender::female,
                           true, day(1948, 6, 1));
         }},
        {"khe-patient.json",
         [](parsed_example const& e) {
             check_patient(e, "1d012d11-4b38-4bdc-bd27-e7d8bcc88c89", administrative_gender::male,
                           true, day(1940, 1, 1));
         }},
        {"r4-Patient-f201.json",
         [](parsed_example const& e) {
             check_patient(e, "f201", administrative_gender::male, true, day(1960, 3, 13));
         }},
        {"r4-Patient-pat1.json",
         [](parsed_example const& e) {
             check_patient(e, "pat1", administrative_gender::male, true,
                           std::nullopt);  // no birthDate
         }},
        {"uscore-patient.json",
         [](parsed_example const& e) {
             // US Core's example patient has no gender element.
             check_patient(e, "example", administrative_gender::unknown, false, day(1987, 2, 20));
         }},
    };
}

checker_table observation_expectations() {
    return {
        // ------------------------------------------------------------ Observations
        {"Observation-mii-exa-test-data-patient-10-labobs-3.json",
         [](parsed_example const& e) {
             check_lab(e, "2160-0", 1.1, "mg/dL", utc(2019, 5, 16, 6, 30));
             auto const& o = only_observation(e);
             CHECK(o.value_quantity->unit == "milligram per deciliter");
             CHECK(o.subject == "Patient/mii-exa-test-data-patient-10");
             REQUIRE(o.issued);
             CHECK(o.issued->start == utc(2019, 5, 16, 8, 45));
         }},
        {"hwr-k1.json",
         [](parsed_example const& e) {
             check_lab(e, "2823-3", 5.0, "meq/L", utc(2026, 8, 21, 6));
             CHECK(only_observation(e).value_quantity->system == ucum);
         }},
        {"hwr-k2.json",
         [](parsed_example const& e) {
             check_lab(e, "2823-3", 3.0, "meq/L", utc(2026, 8, 21, 8));
         }},
        {"khe-egfr.json",
         [](parsed_example const& e) {
             // An eGFR Observation carrying a boolean: not a usable number.
             auto const& o = only_observation(e);
             CHECK(o.code.has_code(loinc, "48642-3"));
             CHECK_FALSE(o.value_quantity);
             CHECK(o.has_value_other);
             REQUIRE(o.result_time());
             CHECK(o.result_time()->start == utc(2025, 3, 16, 8));
         }},
        {"r4-Observation-f204.json",
         [](parsed_example const& e) {
             auto const& o = only_observation(e);
             CHECK(o.id == "f204");
             CHECK(o.code.has_code("https://intranet.aumc.nl/labtestcodes", "20005"));
             REQUIRE(o.value_quantity);
             CHECK(*o.value_quantity->value == 122.0);
             CHECK(o.value_quantity->code == "258814008");
             CHECK(o.value_quantity->unit_key() == "umol/L");  // SNOMED code is not a unit string
             // No effective[x]: the time of the result is `issued`.
             CHECK_FALSE(o.effective_date_time);
             REQUIRE(o.result_time());
             CHECK(o.result_time()->start == utc(2013, 4, 4, 13, 34));
         }},
    };
}

checker_table panel_and_coded_observation_expectations() {
    return {
        {"r4-Observation-f205.json",
         [](parsed_example const& e) {
             auto const& o = only_observation(e);
             CHECK(o.code.has_code(loinc, "33914-3"));
             CHECK_FALSE(o.value_quantity);
             CHECK_FALSE(o.has_value_other);
             REQUIRE(o.components.size() == 2);
             CHECK(o.components[0].code.has_code(loinc, "48643-1"));
             REQUIRE(o.components[0].value_quantity);
             CHECK(*o.components[0].value_quantity->value == 60.0);
             CHECK(o.components[0].value_quantity->comparator == quantity_comparator::greater);
             CHECK(o.components[0].value_quantity->unit_key() == "mL/min/{1.73_m2}");
             REQUIRE(o.result_time());
             CHECK(o.result_time()->start == utc(2013, 4, 4, 13, 34));
         }},
        {"uscore-ca.json",
         [](parsed_example const& e) {
             // No code in the Quantity: the unit text is the key.
             check_lab(e, "17861-6", 7.7, "mg/dL", utc(2005, 7, 5));
             CHECK(only_observation(e).value_quantity->code.empty());
             CHECK(only_observation(e).effective_date_time->precision == date_precision::day);
         }},
        {"uscore-creat.json",
         [](parsed_example const& e) { check_lab(e, "2160-0", 1.0, "mg/dL", utc(2005, 7, 5)); }},
        {"uscore-k.json",
         [](parsed_example const& e) { check_lab(e, "2823-3", 5.4, "mmol/L", utc(2005, 7, 5)); }},
        {"uscore-preg.json",
         [](parsed_example const& e) {
             auto const& o = only_observation(e);
             CHECK(o.code.has_code(loinc, "82810-3"));
             REQUIRE(o.value_concept);
             CHECK(o.value_concept->has_code(snomed, "77386006"));
             CHECK(o.value_concept->text == "Pregnant");
             CHECK_FALSE(o.value_quantity);
             CHECK(o.result_time()->start == utc(2022, 8, 24, 10, 39, 52));
         }},
    };
}

checker_table medication_and_mii_order_expectations() {
    return {
        // ------------------------------------------------------------ Medications
        {"Medication-mii-exa-test-data-medication-cisplatin.json",
         [](parsed_example const& e) {
             auto const& m = only_medication(e);
             CHECK(m.id == "mii-exa-test-data-medication-cisplatin");
             CHECK(m.code.has_code(bfarm_atc, "L01XA01"));
             CHECK(m.form.has_code("http://standardterms.edqm.eu", "11210000"));
             REQUIRE(m.ingredients.size() == 1);
             CHECK(m.ingredients[0].has_code("http://fhir.de/CodeSystem/ask", "15579"));
         }},
        {"Medication-mii-exa-test-data-medication-omeprazol.json",
         [](parsed_example const& e) {
             auto const& m = only_medication(e);
             CHECK(m.code.has_code(bfarm_atc, "A02BC01"));
             CHECK(m.code.codings[0].display == "Omeprazol");
             CHECK(m.form.has_code("http://standardterms.edqm.eu", "10221000"));
         }},
        {"Medication-mii-exa-test-data-medication-sumatriptan.json",
         [](parsed_example const& e) {
             CHECK(only_medication(e).code.has_code(bfarm_atc, "N02CC01"));
         }},

        // ------------------------------------------------------------ MedicationRequests
        {"MedicationRequest-mii-exa-test-data-patient-10-medrequest-1.json",
         [](parsed_example const& e) {
             check_mii_order(e, "Medication/mii-exa-test-data-medication-sumatriptan",
                             utc(2019, 5, 15, 12), "20053000");
             auto const& d = only_order(e).dosages[0];
             CHECK(d.as_needed);
             REQUIRE(d.dose);
             CHECK(*d.dose->value == 50.0);
             REQUIRE(d.repeat);
             CHECK(*d.repeat->period == 1.0);
             CHECK(d.repeat->period_unit == "d");
             CHECK_FALSE(d.repeat->frequency);  // only frequencyMax is given
         }},
        {"MedicationRequest-mii-exa-test-data-patient-4-medrequest-1.json",
         [](parsed_example const& e) {
             check_mii_order(e, "Medication/mii-exa-test-data-medication-cisplatin",
                             utc(2020, 9, 17, 12), "20045000");
             auto const& d = only_order(e).dosages[0];
             REQUIRE(d.dose);
             CHECK(*d.dose->value == 75.0);
             CHECK(d.dose->code == "mg");
             REQUIRE(d.rate_numerator);
             REQUIRE(d.rate_denominator);
             CHECK(*d.rate_numerator->value == 75.0);
             CHECK(*d.rate_denominator->value == 2.0);
             CHECK(d.rate_denominator->code == "h");
             CHECK_FALSE(d.repeat);  // timing.event only
         }},
        {"MedicationRequest-mii-exa-test-data-patient-4-medrequest-2.json",
         [](parsed_example const& e) {
             check_mii_order(e, "Medication/mii-exa-test-data-medication-omeprazol",
                             utc(2020, 9, 16, 8), "20053000");
             auto const& d = only_order(e).dosages[0];
             REQUIRE(d.repeat);
             CHECK(*d.repeat->frequency == 1.0);
             CHECK(d.text == "Omeprazol 20mg 1x t\u00e4glich morgens");
         }},
    };
}

checker_table order_expectations() {
    return {
        {"beers-digoxin.json",
         [](parsed_example const& e) {
             auto const& r = only_order(e);
             CHECK(r.id == "MedicationRequest-1");
             CHECK(r.status == "active");
             CHECK(r.medication_known);
             CHECK(r.resolved_code.has_code(rxnorm, "197606"));
             REQUIRE(r.categories.size() == 1);
             CHECK(r.categories[0].codings[0].code == "discharge");
             CHECK(r.authored_on->start == utc(2025, 1, 1));
             REQUIRE(r.dosages.size() == 1);
             REQUIRE(r.dosages[0].repeat);
             REQUIRE(r.dosages[0].repeat->bounds_period);
             CHECK(r.dosages[0].repeat->bounds_period->end->start == utc(2025, 1, 6));
             REQUIRE(r.expected_supply_duration);
             CHECK(*r.expected_supply_duration->value == 5.0);
             CHECK(r.expected_supply_duration->code == "d");
             CHECK(e.snapshot.issues.empty());
         }},
        {"r4-MedicationRequest-medrx0311.json",
         [](parsed_example const& e) {
             auto const& r = only_order(e);
             REQUIRE(r.contained_medications.size() == 1);
             CHECK(r.contained_medications[0].id == "med0316");
             CHECK(r.medication_known);
             CHECK(r.resolved_code.has_code(snomed, "317935006"));  // chlorthalidone 50 mg tablet
             CHECK(r.resolved_form.has_code(snomed, "385055001"));
             CHECK(r.authored_on->start == utc(2015, 1, 15));
             REQUIRE(r.dosages.size() == 1);
             CHECK(r.dosages[0].text == "One tablet daily");
             CHECK(r.dosages[0].route.has_code(snomed, "26643006"));
             REQUIRE(r.dosages[0].dose);
             CHECK(r.dosages[0].dose->code == "TAB");
             REQUIRE(r.reason_references.size() == 1);
             CHECK(r.reason_references[0].id == "f201");
             REQUIRE(r.validity_period);
             CHECK(r.validity_period->end->start == utc(2016, 1, 15));
             CHECK(*r.expected_supply_duration->value == 30.0);
             CHECK(e.snapshot.issues.empty());
         }},
    };
}

checker_table contained_medication_order_expectations() {
    return {
        {"r4-MedicationRequest-medrx0322.json",
         [](parsed_example const& e) {
             auto const& r = only_order(e);
             CHECK(r.status == "completed");
             CHECK(r.medication_known);
             // The contained Medication has no code, only ingredients; the display names it.
             CHECK(r.resolved_code.codings.empty());
             CHECK(r.resolved_code.text == "Potassium Chloride 20mEq in 1L Normal Saline");
             REQUIRE(r.resolved_ingredients.size() == 2);
             CHECK(r.resolved_ingredients[0].has_code(rxnorm, "204520"));
             CHECK(r.resolved_ingredients[1].has_code(rxnorm, "313002"));
             REQUIRE(r.reason_codes.size() == 1);
             CHECK(r.reason_codes[0].has_code(snomed, "237840007"));
             auto const& d = r.dosages.at(0);
             CHECK(d.route.has_code(snomed, "47625008"));
             CHECK(*d.dose->value == 20.0);
             CHECK(d.dose->code == "mEq");
             REQUIRE(d.rate_numerator);
             CHECK(*d.rate_numerator->value == 100.0);
             CHECK(d.rate_numerator->code == "mL");
             CHECK(d.rate_denominator->code == "h");
             CHECK(d.repeat->period_unit == "h");
             CHECK(e.snapshot.issues.empty());
         }},
        {"uscore-axid-contained.json",
         [](parsed_example const& e) {
             auto const& r = only_order(e);
             CHECK(r.medication_known);
             CHECK(r.resolved_code.has_code(rxnorm, "582620"));
             CHECK(r.resolved_code.text == "Nizatidine 15 MG/ML Oral Solution [Axid]");
             CHECK(r.authored_on->start == utc(2008, 4, 5));
             auto const& d = r.dosages.at(0);
             CHECK(d.text == "10 mL bid");
             CHECK(*d.repeat->frequency == 2.0);
             CHECK(d.repeat->bounds_period->start->start == utc(2008, 4, 5));
             CHECK(*d.dose->value == 10.0);
             CHECK(d.dose->unit_key() == "mL");
             CHECK(r.expected_supply_duration->code == "d");
             CHECK(e.snapshot.issues.empty());
         }},
    };
}

checker_table statement_expectations() {
    return {
        // ------------------------------------------------------------ MedicationStatements
        {"MedicationStatement-mii-exa-test-data-patient-4-medstatement-1.json",
         [](parsed_example const& e) {
             auto const& s = only_order(e);
             CHECK(s.kind == medication_resource_kind::medication_statement);
             CHECK(s.status == "completed");
             REQUIRE(s.effective_period);
             CHECK(s.effective_period->start->start == utc(2020, 9, 17, 12));
             CHECK(s.effective_period->end->start == utc(2020, 9, 17, 14));
             CHECK(s.authored_on == day(2020, 9, 17));  // dateAsserted
             REQUIRE(s.categories.size() == 1);         // a single CodeableConcept in R4
             CHECK(s.categories[0].codings.size() == 2);
             auto const& d = s.dosages.at(0);
             CHECK(d.route.has_code("http://standardterms.edqm.eu", "20045000"));
             CHECK(*d.rate_numerator->value == 75.0);
             CHECK(s.medication_reference->id == "mii-exa-test-data-medication-cisplatin");
         }},
        {"MedicationStatement-mii-exa-test-data-patient-4-medstatement-2.json",
         [](parsed_example const& e) {
             auto const& s = only_order(e);
             CHECK(s.status == "active");
             CHECK(s.effective_period->end->start == utc(2020, 9, 25, 8));
             CHECK(*s.dosages.at(0).dose->value == 20.0);
             CHECK(s.medication_reference->id == "mii-exa-test-data-medication-omeprazol");
         }},
    };
}

checker_table const& expectations() {
    static checker_table const table = [] {
        checker_table all;
        all.merge(unmodelled_and_patient_expectations());
        all.merge(observation_expectations());
        all.merge(panel_and_coded_observation_expectations());
        all.merge(medication_and_mii_order_expectations());
        all.merge(order_expectations());
        all.merge(contained_medication_order_expectations());
        all.merge(statement_expectations());
        return all;
    }();
    return table;
}

}  // namespace

TEST_CASE("the published FHIR examples folder is there and has files") {
    INFO(examples_dir().string());
    REQUIRE(fs::is_directory(examples_dir()));
    CHECK(example_files().size() >= 30);
}

TEST_CASE("every published FHIR example parses with concrete values") {
    auto const files = example_files();
    REQUIRE_FALSE(files.empty());
    std::set<std::string> seen;
    for (auto const& file : files) {
        auto const name = file.filename().string();
        seen.insert(name);
        CAPTURE(name);
        auto const it = expectations().find(name);
        // A new example file must come with assertions of its own.
        REQUIRE_MESSAGE(it != expectations().end(), "no expectations for " << name);
        auto const parsed = parse_example(file);
        INFO(describe(parsed.snapshot.issues));
        CHECK(cds::fhir::test::count_errors(parsed.snapshot.issues) == 0);
        it->second(parsed);
    }
    // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
    for (auto const& expectation : expectations()) {
        auto const& name = expectation.first;
        CAPTURE(name);
        CHECK(seen.contains(name));
    }
}

TEST_CASE("the whole examples folder as one request: classification and Medication resolution") {
    snapshot_builder builder;
    std::size_t taken = 0;
    for (auto const& file : example_files())
        taken += builder.add(read_json(file), "prefetch." + file.stem().string());
    auto const snapshot = std::move(builder).build();
    CHECK(taken ==
          23);  // 30 modelled files; the 7 patients after the first are reported, not taken
    CHECK(snapshot.observations.size() == 10);
    CHECK(snapshot.medications.size() == 3);
    CHECK(snapshot.medication_orders.size() == 9);
    CHECK(snapshot.conditions.empty());
    REQUIRE(snapshot.patient_record);
    CHECK(cds::fhir::test::count_errors(snapshot.issues) == 0);

    // Every MII order and statement now resolves to its prefetched Medication's ATC code
    // (under the BfArM system URI).
    std::map<std::string, std::string> atc_by_order = {
        {"mii-exa-test-data-patient-10-medrequest-1", "N02CC01"},
        {"mii-exa-test-data-patient-4-medrequest-1", "L01XA01"},
        {"mii-exa-test-data-patient-4-medrequest-2", "A02BC01"},
        {"mii-exa-test-data-patient-4-medstatement-1", "L01XA01"},
        {"mii-exa-test-data-patient-4-medstatement-2", "A02BC01"},
    };
    std::size_t resolved = 0;
    for (auto const& order : snapshot.medication_orders) {
        CAPTURE(order.id);
        CHECK(order.medication_known);
        if (auto const it = atc_by_order.find(order.id); it != atc_by_order.end()) {
            CHECK(order.resolved_code.has_code(bfarm_atc, it->second));
            ++resolved;
        }
    }
    CHECK(resolved == atc_by_order.size());
    for (auto const& issue : snapshot.issues) {
        CAPTURE(issue.path);
        CHECK(issue.message.find("more than one Patient") != std::string::npos);
    }
}
