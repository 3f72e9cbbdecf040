#include "cds/service/fhir_client/search_bundle.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace cds::service::fhir_client;
namespace json = boost::json;

namespace {

std::string failure_of(std::string_view body) {
    auto page = read_search_page(json::parse(body));
    return page ? std::string("(read)") : page.error();
}

}  // namespace

TEST_CASE("a search page: entries, include entries and the next link") {
    auto page = read_search_page(json::parse(R"({
        "resourceType": "Bundle", "type": "searchset", "total": 3,
        "link": [{"relation": "self", "url": "http://h/fhir/MedicationRequest?patient=1"},
                 {"relation": "next", "url": "http://h/fhir/MedicationRequest?patient=1&_offset=2"}],
        "entry": [
            {"resource": {"resourceType": "MedicationRequest", "id": "a"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Medication", "id": "m"}, "search": {"mode": "include"}},
            {"resource": {"resourceType": "MedicationRequest", "id": "b"}},
            {"fullUrl": "http://h/fhir/X/no-resource"},
            {"resource": {"resourceType": "OperationOutcome",
                          "issue": [{"severity": "warning", "code": "not-supported",
                                     "diagnostics": "parameter _foo ignored"}]},
             "search": {"mode": "outcome"}}
        ]})"));
    REQUIRE(page.has_value());
    CHECK(page->entries.size() == 3);
    REQUIRE(page->next_url);
    CHECK(*page->next_url == "http://h/fhir/MedicationRequest?patient=1&_offset=2");
}

TEST_CASE("answers that are not usable search results fail with a reason") {
    CHECK(failure_of(
              R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"security",
          "diagnostics":"Invalid token"}]})") ==
          "the FHIR server answered with an OperationOutcome: Invalid token");
    CHECK(failure_of(R"({"resourceType":"Patient","id":"1"})") ==
          "the FHIR server answered a search with a Patient instead of a Bundle");
    CHECK(failure_of(R"([1,2])") ==
          "the FHIR server answered with JSON that is not a FHIR resource");
    CHECK(failure_of(R"({"hello":"world"})") ==
          "the FHIR server answered a search with JSON that is not a FHIR resource");
    CHECK(failure_of(R"({"resourceType":"Bundle","entry":{}})") ==
          "the FHIR server answered with a Bundle whose entry is not an array");
    // search.mode = outcome with an error: the search did not do what was asked.
    CHECK(failure_of(R"({"resourceType":"Bundle","type":"searchset","entry":[
          {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",
           "details":{"text":"Unknown search parameter 'patient'"}}]},"search":{"mode":"outcome"}}]})") ==
          "the FHIR server reported an error with the search: Unknown search parameter 'patient'");
    CHECK(failure_of(R"({"resourceType":"Bundle","type":"searchset"})") == "(read)");
}

TEST_CASE("OperationOutcome text is joined and shortened") {
    auto const outcome = json::parse(R"({"resourceType":"OperationOutcome","issue":[
        {"severity":"error","diagnostics":"first"},{"severity":"error","details":{"text":"second"}},
        {"severity":"error"}]})")
                             .as_object();
    CHECK(outcome_text(outcome) == "first; second");
    CHECK(outcome_text(outcome, 3) == "fir...");
}

TEST_CASE("pages merge into one searchset; a resource repeated across pages is kept once") {
    searchset_builder builder;
    CHECK(builder.bundle().at("total") == 0);
    CHECK_FALSE(builder.bundle().contains("entry"));
    auto first = read_search_page(json::parse(R"({"resourceType":"Bundle","entry":[
        {"resource":{"resourceType":"MedicationRequest","id":"a"},"search":{"mode":"match"}},
        {"resource":{"resourceType":"Medication","id":"m"},"search":{"mode":"include"}}]})"));
    auto second = read_search_page(json::parse(R"({"resourceType":"Bundle","entry":[
        {"resource":{"resourceType":"MedicationRequest","id":"b"},"search":{"mode":"match"}},
        {"resource":{"resourceType":"Medication","id":"m"},"search":{"mode":"include"}}]})"));
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    builder.add(std::move(*first));
    builder.add(std::move(*second));
    builder.add_included(json::parse(R"({"resourceType":"Medication","id":"m"})").as_object());
    builder.add_included(json::parse(R"({"resourceType":"Medication","id":"n"})").as_object());
    auto const bundle = builder.take();
    CHECK(bundle.at("resourceType") == "Bundle");
    CHECK(bundle.at("type") == "searchset");
    CHECK(bundle.at("total") == 2);
    CHECK_FALSE(bundle.contains("link"));
    auto const& entries = bundle.at("entry").as_array();
    REQUIRE(entries.size() == 4);
    CHECK(entries[0].at("resource").at("id") == "a");
    CHECK(entries[1].at("resource").at("id") == "m");
    CHECK(entries[2].at("resource").at("id") == "b");
    CHECK(entries[3].at("resource").at("id") == "n");
    CHECK(entries[3].at("search").at("mode") == "include");
}

TEST_CASE("medicationReferences not included are found, on this server only") {
    auto const server = *parse_http_url("https://ehr.example.org/fhir/r4");
    auto const bundle = json::parse(R"({"resourceType":"Bundle","type":"searchset","entry":[
        {"resource":{"resourceType":"MedicationRequest","id":"1","medicationReference":{"reference":"Medication/furosemide-40"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"2","medicationReference":{"reference":"Medication/furosemide-40"}}},
        {"resource":{"resourceType":"MedicationStatement","id":"3","medicationReference":{"reference":"https://ehr.example.org/fhir/r4/Medication/omeprazole/_history/2"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"4","medicationReference":{"reference":"Medication/included-1"}}},
        {"resource":{"resourceType":"Medication","id":"included-1"},"search":{"mode":"include"}},
        {"resource":{"resourceType":"MedicationRequest","id":"5","medicationReference":{"reference":"#contained"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"6","medicationReference":{"reference":"urn:uuid:7f1c"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"7","medicationReference":{"reference":"https://other.example/fhir/r4/Medication/x"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"8","medicationReference":{"reference":"https://ehr.example.org/elsewhere/Medication/y"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"9","medicationReference":{"reference":"Medication/../Patient/1"}}},
        {"resource":{"resourceType":"MedicationRequest","id":"10","medicationCodeableConcept":{"text":"PPI"}}},
        {"resource":{"resourceType":"Observation","id":"11","medicationReference":{"reference":"Medication/not-a-med-order"}}},
        {"resource":{"resourceType":"MedicationAdministration","id":"12","medicationReference":{"reference":"Medication/mag-sulfate"}}}
    ]})")
                            .as_object();
    CHECK(missing_medication_references(bundle, server) ==
          std::vector<std::string>{"Medication/furosemide-40", "Medication/omeprazole",
                                   "Medication/mag-sulfate"});
    CHECK(missing_medication_references(json::object{}, server).empty());
}
