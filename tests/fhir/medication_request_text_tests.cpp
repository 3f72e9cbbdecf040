// A MedicationRequest entry read straight from its text (medication_request_text.hpp) against
// the same text laid out as a tape and read by snapshot_builder::add_bundle_entry.

#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <boost/json/monotonic_resource.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/medication_request_text.hpp"
#include "cds/fhir/snapshot.hpp"

using namespace cds::fhir;

namespace {

constexpr std::size_t max_open = 16;
constexpr std::string_view bundle_path = "prefetch.meds";

struct taped_entry {
    bool read = false;
    char const* end_of_value = nullptr;
    std::size_t resource_count = 0;
    patient_snapshot snapshot;
};

taped_entry through_tape(std::string_view text, snapshot_builder& builder, std::size_t index) {
    tape_builder tape;
    boost::json::monotonic_resource store;
    taped_entry taped;
    char const* at = text.data();
    taped.read = tape.read_text(at, text.data() + text.size(), max_open, store);
    if (!taped.read) return taped;
    REQUIRE_FALSE(tape.has_repeated_member());
    taped.end_of_value = at;
    taped.resource_count = tape.resource_count();
    (void)builder.add_bundle_entry(tape.root(), std::string{bundle_path}, index);
    return taped;
}

// The entry must be read straight from the text, and give what its tape gives.
void check_read_as_tape_reads(std::string_view text) {
    CAPTURE(text);
    snapshot_builder taping;
    auto taped = through_tape(text, taping, 3);
    REQUIRE(taped.read);
    // build() reports a medicationReference that names no Medication of the request, on
    // either path; an issue of the tape path's reading would make the snapshots differ.
    auto const expected = std::move(taping).build();
    REQUIRE(expected.medication_orders.size() == 1);

    snapshot_builder builder;
    char const* at = text.data();
    auto const read = read_medication_request_entry(at, text.data() + text.size(), max_open,
                                                    builder.start_medication_order());
    REQUIRE(read.has_value());
    CHECK(at == taped.end_of_value);
    CHECK(read->resource_count == taped.resource_count);
    builder.finish_medication_order(std::string{bundle_path}, 3);
    auto const got = std::move(builder).build();
    CHECK(got.medication_orders.front().source_path == "prefetch.meds.entry[3].resource");
    CHECK(got == expected);
}

void check_declined(std::string_view text) {
    CAPTURE(text);
    medication_order out;
    char const* at = text.data();
    CHECK_FALSE(read_medication_request_entry(at, text.data() + text.size(), max_open, out));
    CHECK(at == text.data());
}

std::string entry(std::string_view resource_members) {
    return R"({"fullUrl":"https://ehr.example.org/fhir/MedicationRequest/mr-1","resource":{)"
           R"("resourceType":"MedicationRequest",)" +
           std::string{resource_members} + R"(},"search":{"mode":"match"}})";
}

std::string dosage_entry(std::string_view dosage_members) {
    return entry(R"("id":"d","dosageInstruction":[{)" + std::string{dosage_members} + "}]");
}

constexpr std::string_view furosemide_members =
    R"("id":"mr-1","status":"active","intent":"order",)"
    R"("category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/)"
    R"(medicationrequest-category","code":"outpatient"}]}],)"
    R"("medicationCodeableConcept":{"coding":[{"system":)"
    R"("http://www.nlm.nih.gov/research/umls/rxnorm","code":"310429",)"
    R"("display":"furosemide 20 MG Oral Tablet"}],"text":"Furosemide 20 mg tablet"},)"
    R"("subject":{"reference":"Patient/p1","display":"A. Patient"},)"
    R"("authoredOn":"2026-11-20T09:15:00-05:00","requester":{"reference":"Practitioner/x"},)"
    R"("reasonCode":[{"text":"Edema"}],"reasonReference":[{"reference":"Condition/c1"}],)"
    R"("dosageInstruction":[{"sequence":1,"text":"20 mg by mouth twice daily",)"
    R"("timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d",)"
    R"("boundsDuration":{"value":30,"unit":"days","system":"http://unitsofmeasure.org",)"
    R"("code":"d"}},"code":{"text":"BID"}},)"
    R"("route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006",)"
    R"("display":"Oral route"}]},)"
    R"("doseAndRate":[{"type":{"text":"ordered"},"doseQuantity":{"value":20,"unit":"mg",)"
    R"("system":"http://unitsofmeasure.org","code":"mg"}}]}],)"
    R"("dispenseRequest":{"validityPeriod":{"start":"2026-11-20","end":"2027-05-20"},)"
    R"("numberOfRepeatsAllowed":3,"expectedSupplyDuration":{"value":30,"unit":"days"}},)"
    R"("note":[{"text":"take with food"}])";

}  // namespace

TEST_CASE("a MedicationRequest entry reads the same straight from its text as from its tape") {
    check_read_as_tape_reads(entry(furosemide_members));
    // Whitespace and escapes; the sandbox's single objects for category and reasonCode; a
    // medicationReference; nulls for every member that stands in for another.
    check_read_as_tape_reads(
        " {\n \"resource\" : {\"resourceType\": \"MedicationRequest\", \"id\": \"m\\u002d2\",\n"
        "  \"category\": {\"text\": \"inpatient\"}, \"reasonCode\": {\"text\": \"low Mg\"},\n"
        "  \"medicationReference\": {\"reference\": \"Medication/mag-ox\", \"display\": "
        "\"Mag\\/ox\"},\n"
        "  \"medication\": null, \"contained\": null, \"patient\": null,\n"
        "  \"reasonCodeableConcept\": null, \"dosageInstruction\": null, \"status\": null\n"
        " }}");
    // A single Dosage object, an IV rate as a ratio, as-needed with a reason.
    check_read_as_tape_reads(
        entry(R"("id":"iv","dosageInstruction":{"text":"2 g IV over 2 h","asNeededBoolean":false,)"
              R"("asNeededCodeableConcept":{"text":"cramps"},"doseAndRate":{"doseQuantity":)"
              R"({"value":2,"unit":"g"},"rateRatio":{"numerator":{"value":1,"unit":"g"},)"
              R"("denominator":{"value":1,"unit":"h"}}}})"));
    check_read_as_tape_reads(dosage_entry(R"("asNeededBoolean":true)"));
    // Decoys of the same length as the names read.
    check_read_as_tape_reads(entry(
        R"("ix":1,"statux":1,"intenx":1,"subjecx":1,"patienx":1,"categorx":1,"containex":1,)"
        R"("authoredOx":1,"reasonCodf":1,"medicatioo":1,"resourceTypf":1,"dispenseRequesx":1,)"
        R"("reasonReferencf":1,"dosageInstructioo":1,"medicationReferencf":1,)"
        R"("reasonCodeableConcepx":1,"medicationCodeableConcepx":1,"id":"decoys")"));
    // Resources inside the entry count towards the request's limit.
    check_read_as_tape_reads(entry(R"("id":"x","extension":[{"resourceType":"Basic"},)"
                                   R"({"resourceType":7}])"));
}

TEST_CASE("a dosage's own dose and rate count only where doseAndRate gave none") {
    // The Dosage's own doseQuantity before and after its doseAndRate.
    check_read_as_tape_reads(
        dosage_entry(R"("doseQuantity":{"value":1},"doseAndRate":[{"doseQuantity":{"value":2}}])"));
    check_read_as_tape_reads(
        dosage_entry(R"("doseAndRate":[{"doseQuantity":{"value":2}}],"doseQuantity":{"value":1})"));
    check_read_as_tape_reads(
        dosage_entry(R"("doseQuantity":{"value":1},"doseAndRate":[{"rateQuantity":{"value":5}}])"));
    check_read_as_tape_reads(dosage_entry(
        R"("rateQuantity":{"value":9},"doseAndRate":[{"rateRatio":{"numerator":{"value":1}}}])"));
    check_read_as_tape_reads(dosage_entry(R"("rateQuantity":{"value":9},"doseQuantity":null)"));
    // The first element with a dose gives it; the first with a rate gives the rate, both
    // members of it; later ones are not read.
    check_read_as_tape_reads(
        dosage_entry(R"("doseAndRate":[{"rateQuantity":{"value":3}},{"doseQuantity":{"value":4},)"
                     R"("rateQuantity":{"value":7},"rateRatio":{"numerator":{"value":1}}},)"
                     R"({"doseQuantity":{"value":5}}])"));
    check_read_as_tape_reads(dosage_entry(
        R"("doseAndRate":[{"doseQuantity":null,"rateRatio":null},{"doseQuantity":{"value":6},)"
        R"("rateQuantity":{"value":2},"rateRatio":{"denominator":{"value":1,"unit":"h"}}}])"));
}

TEST_CASE("a timing's DSTU2 names count only where the R4 names gave nothing") {
    check_read_as_tape_reads(dosage_entry(
        R"("timing":{"repeat":{"periodUnits":"h","period":8,"periodUnit":"d","frequency":1}})"));
    check_read_as_tape_reads(dosage_entry(
        R"("timing":{"repeat":{"periodUnits":"h","periodUnit":"","durationUnits":"min",)"
        R"("duration":30}})"));
    check_read_as_tape_reads(
        dosage_entry(R"("timing":{"repeat":{"boundsQuantity":{"value":5,"unit":"d"},)"
                     R"("boundsDuration":{"value":7,"unit":"d"}}})"));
    check_read_as_tape_reads(dosage_entry(
        R"("timing":{"repeat":{"boundsQuantity":{"value":5,"unit":"d"},"boundsDuration":null,)"
        R"("boundsPeriod":{"start":"2026-12-01T08:00:00Z"}},"event":["2026-12-01"]})"));
    check_read_as_tape_reads(dosage_entry(R"("timing":{"repeat":null,"code":{"text":"QD"}})"));
}

TEST_CASE("entries the text reader would read otherwise than the tape path are declined") {
    // Issues the tape path reports.
    check_declined(entry(R"("status":1)"));
    check_declined(entry(R"("medicationCodeableConcept":"310429")"));
    check_declined(entry(R"("medicationReference":"Medication/m")"));
    check_declined(entry(R"("authoredOn":"2026-11-20T09:15:00")"));  // no offset
    check_declined(entry(R"("authoredOn":"yesterday")"));
    check_declined(entry(R"("category":["outpatient"])"));
    check_declined(entry(R"("reasonCode":[null])"));
    check_declined(entry(R"("reasonReference":[null])"));
    check_declined(entry(R"("reasonReference":"Condition/c")"));
    check_declined(entry(R"("dispenseRequest":[])"));
    check_declined(entry(R"("dosageInstruction":["twice daily"])"));
    check_declined(dosage_entry(R"("timing":"BID")"));
    check_declined(dosage_entry(R"("timing":{"repeat":[]})"));
    check_declined(dosage_entry(R"("timing":{"repeat":{"frequency":"2"}})"));
    check_declined(dosage_entry(R"("asNeededBoolean":"yes")"));
    check_declined(dosage_entry(R"("doseAndRate":[1])"));
    check_declined(dosage_entry(R"("doseAndRate":[{"rateRatio":5}])"));
    check_declined(dosage_entry(R"("doseQuantity":{"value":1,"comparator":"<"})"));
    check_declined(dosage_entry(R"("doseQuantity":{"value":1e999})"));
    check_declined(entry(R"("subject":{"reference":"Patient/p1","display":1})"));
    // Members that only stand in for others, or that hold resources: the tape path's.
    check_declined(entry(R"("contained":[{"resourceType":"Medication","id":"m"}])"));
    check_declined(entry(R"("contained":[])"));
    check_declined(entry(R"("medication":{"concept":{"text":"magnesium"}})"));
    check_declined(entry(R"("patient":{"reference":"Patient/p1"})"));
    check_declined(entry(R"("reasonCodeableConcept":{"text":"Edema"})"));
    // A repeated member the reader reads (a tree keeps the last, a tape the first).
    check_declined(entry(R"("status":"active","status":"stopped")"));
    check_declined(dosage_entry(R"("text":"a","text":"b")"));
    check_declined(dosage_entry(R"("doseAndRate":[{"doseQuantity":{},"doseQuantity":{}}])"));
    check_declined(R"({"resource":{"resourceType":"MedicationRequest","resourceType":"X"}})");
    // Not a MedicationRequest entry the reader takes.
    check_declined(R"({"resource":{"resourceType":"MedicationStatement","id":"s"}})");
    check_declined(R"({"resource":{"resourceType":"MedicationOrder","id":"o"}})");
    check_declined(R"({"resource":{"resourceType":"Observation","id":"o"}})");
    check_declined(R"({"resource":{"resourceType":null}})");
    // resourceType not first: nothing is read into the model before the type is known.
    check_declined(R"({"resource":{"id":"m","resourceType":"MedicationRequest"}})");
    check_declined(R"({"resource":{"dosageInstruction":[{},{},{}],"resourceType":"Condition"}})");
    check_declined(R"({"resource":null})");
    check_declined(
        R"({"resource":{"resourceType":"MedicationRequest"},"search":{"mode":"outcome"}})");
    // Outside the text subset, or nested past the limit.
    check_declined(entry(R"("status":"active",)"));
    check_declined(entry(R"("note":[{"text":"x"},])"));
    check_declined(entry(R"("extension":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]])"));
}

TEST_CASE("arrays of up to 64 elements are read from the text, longer ones declined") {
    std::string dosages = R"("id":"long","dosageInstruction":[)";
    std::string codings = R"("medicationCodeableConcept":{"coding":[)";
    for (int i = 0; i < 64; ++i) {
        dosages += i == 0 ? "{}" : ",{}";
        codings += i == 0 ? R"({"code":"c"})" : R"(,{"code":"c"})";
    }
    check_read_as_tape_reads(entry(dosages + "]," + codings + "]}"));
    check_declined(entry(dosages + ",{}]"));
    check_declined(entry(dosages + "]," + codings + R"(,{"code":"c"}]})"));
}

TEST_CASE("a MedicationRequest read from the text is de-duplicated as on the tape") {
    // The first copy of (MedicationRequest, id) wins, whichever path read it.
    std::string const first = entry(R"("id":"dup","status":"active")");
    std::string const second = entry(R"("id":"dup","status":"stopped")");
    snapshot_builder builder;
    char const* at = first.data();
    REQUIRE(read_medication_request_entry(at, first.data() + first.size(), max_open,
                                          builder.start_medication_order()));
    builder.finish_medication_order("prefetch.meds", 0);
    (void)through_tape(second, builder, 1);
    at = second.data();
    REQUIRE(read_medication_request_entry(at, second.data() + second.size(), max_open,
                                          builder.start_medication_order()));
    builder.finish_medication_order("prefetch.meds", 2);
    auto const snapshot = std::move(builder).build();
    REQUIRE(snapshot.medication_orders.size() == 1);
    CHECK(snapshot.medication_orders.front().status == "active");
}
