// read_hook_context: the one mapping from a CDS Hooks request to the hook context and the
// snapshot, shared by the service, the benchmark and the fuzzers.

#include <doctest/doctest.h>

#include "cds/service/cds/hook_context.hpp"
#include "support.hpp"

namespace cds::service {
namespace {

rules::service_definition order_sign_service() {
    rules::service_definition service;
    service.id = "magnesium-order-sign";
    service.hook = "order-sign";
    return service;
}

TEST_CASE("read_hook_context reads the context members, the draft Bundle and the prefetch") {
    auto const request = testing::parse(R"({
        "hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "patientId": "pat1", "userId": "Practitioner/doc1", "encounterId": "enc1",
            "selections": ["MedicationRequest/draft1", 7],
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [
                {"fullUrl": "urn:uuid:8c3f6a52-4d51-4f3b-9a8e-1f2b3c4d5e6f",
                 "resource": {"resourceType": "Medication", "id": "med1",
                              "code": {"text": "Furosemide 40 mg tablet"}}},
                {"resource": {"resourceType": "MedicationRequest", "id": "draft1", "status": "draft",
                              "intent": "order", "subject": {"reference": "Patient/pat1"},
                              "medicationReference": {"reference": "urn:uuid:8c3f6a52-4d51-4f3b-9a8e-1f2b3c4d5e6f"}}},
                {"resource": {"resourceType": "MedicationRequest", "id": "bare", "status": "draft",
                              "intent": "order", "subject": {"reference": "Patient/pat1"}}},
                {"resource": {"resourceType": "ServiceRequest", "id": "mg-level", "status": "draft",
                              "intent": "order", "subject": {"reference": "Patient/pat1"},
                              "code": {"coding": [{"system": "http://loinc.org", "code": "19123-9"}]},
                              "occurrenceDateTime": "2026-03-10T15:20:00Z"}}
            ]}
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pat1", "birthDate": "1950-04-02"},
            "magnesium": {"resourceType": "OperationOutcome", "issue": []},
            "renal": null
        }
    })")
                             .as_object();
    auto const now = fhir::instant{std::chrono::milliseconds{1'773'133'200'000}};
    rules::hook_context context;
    fhir::snapshot_builder builder;
    auto const skipped = read_hook_context(request, order_sign_service(), now, context, builder);

    CHECK(skipped == 1);  // the draft naming no medication yet
    CHECK(context.hook == "order-sign");
    CHECK(context.service_id == "magnesium-order-sign");
    CHECK(context.now == now);
    CHECK(context.patient_id == "pat1");
    CHECK(context.user_id == "Practitioner/doc1");
    CHECK(context.encounter_id == "enc1");
    CHECK(context.selections == std::vector<std::string>{"MedicationRequest/draft1"});
    REQUIRE(context.draft_orders.size() == 1);
    CHECK(context.draft_orders[0].id == "draft1");
    REQUIRE(context.draft_service_requests.size() == 1);
    CHECK(context.draft_service_requests[0].id == "mg-level");
    CHECK(context.draft_service_requests[0].occurrence_time().has_value());
    CHECK(context.unavailable_prefetch.empty());  // the caller's decision

    auto snapshot = std::move(builder).build();
    CHECK(snapshot.patient_record.has_value());
    CHECK(snapshot.find_medication_by_full_url("urn:uuid:8c3f6a52-4d51-4f3b-9a8e-1f2b3c4d5e6f") !=
          nullptr);
    CHECK(snapshot.observations.empty());
    CHECK(snapshot.service_requests.empty());  // drafts stay in the context
}

TEST_CASE("read_hook_context ignores members of the wrong type, as on input no schema checked") {
    for (char const* text :
         {R"({"hook": "order-sign"})", R"({"context": [], "prefetch": "x"})",
          R"({"context": {"patientId": 5, "selections": {}, "draftOrders": 3}})",
          R"({"context": {"draftOrders": {"entry": {"resource": 1}}}, "prefetch": {"a": []}})"}) {
        CAPTURE(text);
        rules::hook_context context;
        fhir::snapshot_builder builder;
        CHECK(read_hook_context(testing::parse(text).as_object(), order_sign_service(), {}, context,
                                builder) == 0);
        CHECK(context.hook == "order-sign");
        CHECK(context.patient_id.empty());
        CHECK(context.selections.empty());
        CHECK(context.draft_orders.empty());
        CHECK(context.draft_service_requests.empty());
        auto const snapshot = std::move(builder).build();
        CHECK_FALSE(snapshot.patient_record.has_value());
    }
}

}  // namespace
}  // namespace cds::service
