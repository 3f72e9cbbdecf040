// An Observation entry read straight from its text (observation_text.hpp) against the same
// text laid out as a tape and read by snapshot_builder::add_bundle_entry.

#include <optional>
#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <boost/json/monotonic_resource.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/observation_text.hpp"
#include "cds/fhir/snapshot.hpp"

using namespace cds::fhir;

namespace {

constexpr std::size_t max_open = 16;

struct taped_entry {
    bool read = false;
    char const* end_of_value = nullptr;
    std::size_t resource_count = 0;
    patient_snapshot snapshot;
};

taped_entry through_tape(std::string_view text, observation_code_filter const& keep) {
    tape_builder tape;
    boost::json::monotonic_resource store;
    taped_entry taped;
    char const* at = text.data();
    taped.read = tape.read_text(at, text.data() + text.size(), max_open, store);
    if (!taped.read) return taped;
    REQUIRE_FALSE(tape.has_repeated_member());
    taped.end_of_value = at;
    taped.resource_count = tape.resource_count();
    snapshot_builder builder;
    builder.keep_observations_if(keep);
    (void)builder.add_bundle_entry(tape.root(), "prefetch.labs", 0);
    taped.snapshot = std::move(builder).build();
    return taped;
}

// The entry must be read straight from the text, and give what its tape gives.
void check_read_as_tape_reads(std::string_view text, observation_code_filter const& keep = {}) {
    CAPTURE(text);
    auto const taped = through_tape(text, keep);
    REQUIRE(taped.read);
    CHECK(taped.snapshot.issues.empty());
    snapshot_builder builder;
    builder.keep_observations_if(keep);
    char const* at = text.data();
    auto const read =
        read_observation_entry(at, text.data() + text.size(), max_open,
                               builder.observation_filter(), builder.start_observation());
    REQUIRE(read.has_value());
    CHECK(at == taped.end_of_value);
    CHECK(read->resource_count == taped.resource_count);
    builder.finish_observation(read->kept);
    CHECK(std::move(builder).build() == taped.snapshot);
}

bool read_straight(std::string_view text, char const*& at) {
    observation out;
    return read_observation_entry(at, text.data() + text.size(), max_open, nullptr, out)
        .has_value();
}

void check_declined(std::string_view text) {
    CAPTURE(text);
    char const* at = text.data();
    CHECK_FALSE(read_straight(text, at));
    CHECK(at == text.data());
}

std::string entry(std::string_view resource_members) {
    return R"({"fullUrl":"https://ehr.example.org/fhir/Observation/mg-1","resource":{)"
           R"("resourceType":"Observation",)" +
           std::string{resource_members} + R"(},"search":{"mode":"match"}})";
}

constexpr std::string_view magnesium_members =
    R"("id":"mg-1","status":"final","category":[{"coding":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],)"
    R"("code":{"coding":[{"system":"http://loinc.org","code":"19123-9",)"
    R"("display":"Magnesium [Mass/volume] in Serum or Plasma"}],"text":"Magnesium"},)"
    R"("subject":{"reference":"Patient/p1","display":"A. Patient"},)"
    R"("effectiveDateTime":"2026-12-04T06:37:00Z","issued":"2026-12-04T08:13:00+01:00",)"
    R"("valueQuantity":{"value":1.5,"unit":"mg/dL","system":"http://unitsofmeasure.org",)"
    R"("code":"mg/dL"},"referenceRange":[{"low":{"value":1.7},"high":{"value":2.2}}])";

}  // namespace

TEST_CASE("an Observation entry reads the same straight from its text as from its tape") {
    check_read_as_tape_reads(entry(magnesium_members));
    // Whitespace, escapes, an integer value, a single Coding object, a period, nulls.
    check_read_as_tape_reads(
        " {\n \"resource\" : {\"resourceType\": \"Observation\", \"id\": \"mg\\u002d2\",\n"
        "  \"code\": {\"coding\": {\"system\": \"http://loinc.org\", \"code\": \"2601-3\"}},\n"
        "  \"effectivePeriod\": {\"start\": \"2026-12-01\", \"end\": null},\n"
        "  \"valueQuantity\": {\"value\": 1, \"comparator\": null, \"unit\": \"mmol\\/L\"},\n"
        "  \"status\": null, \"component\": null, \"note\": [{\"text\": "
        "\"h\\u00e9molys\\u00e9\"}]\n"
        " }}");
    // No value, and why; another kind of value; a coded value; an instant.
    check_read_as_tape_reads(entry(R"("dataAbsentReason":{"text":"error"},"issued":"2026-12-04")"));
    check_read_as_tape_reads(entry(R"("valueString":"see note","valueQuantity":null)"));
    check_read_as_tape_reads(entry(R"("valueBoolean":null)"));
    check_read_as_tape_reads(entry(R"("valueA":1,"valueB":1,"valueC":1,"valueD":1,"valueE":1,)"
                                   R"("valueF":1,"valueG":1,"valueH":null)"));
    check_read_as_tape_reads(entry(R"("valueCodeableConcept":{"coding":[],"text":"pregnant"},)"
                                   R"("effectiveInstant":"2026-12-04T06:37:00.125Z")"));
    // Before each member read stands a decoy of the same length: only the exact name counts
    // (and a decoy value[x] is another kind of value).
    check_read_as_tape_reads(entry(
        R"("ix":"decoy","id":"o","statux":"x","status":"final","codf":{"text":"d"},)"
        R"("code":{"text":"Mg"},"subjecx":{"reference":"Patient/decoy"},)"
        R"("subject":{"reference":"Patient/p1"},"issuex":"2020","effectivePerioe":{},)"
        R"("effectiveInstanx":"x","dataAbsentReasoo":1,"componenx":[],"resourceTypf":1,)"
        R"("effectiveDateTimx":"1999","valueQuantitx":{"value":9.9},"valueCodeableConceqt":1)"));
    // Resources inside the entry count towards the request's limit; only a string
    // resourceType makes one.
    check_read_as_tape_reads(
        entry(R"("contained":[{"resourceType":"Specimen","id":"s"},{"resourceType":7},)"
              R"({"id":"x"}],"id":"with-contained")"));
}

TEST_CASE("the code filter's verdict comes with the entry and decides as on the tape") {
    observation_code_filter const keep_magnesium = [](codeable_concept const& code) {
        return code.has_code("http://loinc.org", "19123-9");
    };
    check_read_as_tape_reads(entry(magnesium_members), keep_magnesium);
    check_read_as_tape_reads(
        entry(R"("id":"na-1","code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]},)"
              R"("valueQuantity":{"value":140,"unit":"mmol/L"})"),
        keep_magnesium);

    // Refused: nothing past the code is read, so what would be an issue there is none (and
    // without a filter, it is one: that entry is declined).
    std::string const refused_late =
        entry(R"("id":"na-2","code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]},)"
              R"("effectiveDateTime":"yesterday","valueQuantity":{"value":"140"})");
    check_read_as_tape_reads(refused_late, keep_magnesium);
    check_declined(refused_late);

    // A refused Observation still takes its id: a later one of the same id is dropped.
    std::string const refused_text =
        entry(R"("id":"dup","code":{"coding":[{"system":"http://loinc.org","code":"2951-2"}]})");
    std::string const kept_text =
        entry(R"("id":"dup","code":{"coding":[{"system":"http://loinc.org","code":"19123-9"}]})");
    snapshot_builder builder;
    builder.keep_observations_if(keep_magnesium);
    char const* at = refused_text.data();
    auto const refused =
        read_observation_entry(at, refused_text.data() + refused_text.size(), max_open,
                               builder.observation_filter(), builder.start_observation());
    REQUIRE(refused.has_value());
    CHECK_FALSE(refused->kept);
    builder.finish_observation(refused->kept);
    tape_builder tape;
    boost::json::monotonic_resource store;
    char const* kept_at = kept_text.data();
    REQUIRE(tape.read_text(kept_at, kept_text.data() + kept_text.size(), max_open, store));
    CHECK(builder.add_bundle_entry(tape.root(), "prefetch.labs", 1) == 0);
    CHECK(std::move(builder).build().observations.empty());
}

TEST_CASE("entries the text reader would read otherwise than the tape path are declined") {
    // Issues the tape path reports.
    check_declined(entry(R"("status":1)"));
    check_declined(entry(R"("code":"19123-9")"));
    check_declined(entry(R"("code":{"coding":["19123-9"]})"));
    check_declined(entry(R"("effectiveDateTime":"2026-13-01")"));
    check_declined(entry(R"("effectiveDateTime":"2026-12-04T06:37:00")"));  // no offset
    check_declined(entry(R"("valueQuantity":{"value":"1.5"})"));
    check_declined(entry(R"("valueQuantity":{"value":1e999})"));
    check_declined(entry(R"("subject":"Patient/p1")"));
    check_declined(entry(R"("subject":{"reference":"Patient/p1","display":1})"));
    check_declined(R"({"resource":{"resourceType":null}})");
    // Read by the tape path with care of its own.
    check_declined(entry(R"("valueQuantity":{"value":0.5,"comparator":"<"})"));
    check_declined(entry(R"("component":[{"code":{"text":"systolic"}}])"));
    // A repeated member the reader reads (a tree keeps the last, a tape the first).
    check_declined(entry(R"("status":"final","status":"amended")"));
    check_declined(entry(R"("valueString":null,"valueString":"x")"));
    // More value[x] names than an Observation has: the repeat check stays short.
    check_declined(entry(R"("valueA":1,"valueB":1,"valueC":1,"valueD":1,"valueE":1,)"
                         R"("valueF":1,"valueG":1,"valueH":1,"valueI":1)"));
    check_declined(R"({"resource":{"resourceType":"Observation"},"resource":null})");
    // resourceType not first: nothing is read into the model before the type is known.
    check_declined(R"({"resource":{"id":"o","resourceType":"Observation"}})");
    check_declined(R"({"resource":{"code":{"coding":[{},{},{}]},"resourceType":"Condition"}})");
    // Not an Observation entry the snapshot takes.
    check_declined(R"({"resource":{"resourceType":"MedicationRequest","id":"m"}})");
    check_declined(R"({"resource":{"resourceType":"Bundle","entry":[]}})");
    check_declined(R"({"resource":null})");
    check_declined(R"({"fullUrl":"urn:uuid:1"})");
    check_declined(R"({"resource":{"resourceType":"Observation"},"search":{"mode":"outcome"}})");
    check_declined(R"([{"resource":{"resourceType":"Observation"}}])");
    // Outside the text subset, or nested past the limit.
    check_declined(entry(R"("status":"final",)"));
    check_declined(entry(R"("note":[{"text":"x"},])"));
    check_declined(entry(R"("status":"fin)"));
    check_declined(entry(R"("extension":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]])"));
}

TEST_CASE("the text reader and read_text take the same nesting") {
    // The entry and its resource are two containers; `extension` adds `depth` more.
    for (std::size_t depth = 10; depth <= 16; ++depth) {
        CAPTURE(depth);
        std::string const text =
            entry(R"("extension":)" + std::string(depth, '[') + "1" + std::string(depth, ']'));
        bool const taped = through_tape(text, {}).read;
        char const* at = text.data();
        CHECK(read_straight(text, at) == taped);
        CHECK(taped == (depth + 2 <= max_open));
    }
}
