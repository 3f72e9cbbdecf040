#pragma once
// Typed views of the FHIR resources the magnesium rules read (R4, with the DSTU2
// MedicationOrder that some clients still send as a draft order). Only what the rules and
// the card builder use is modelled; everything else is ignored on purpose.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "cds/fhir/types.hpp"

namespace cds::fhir {

enum class administrative_gender { unknown, male, female, other };

struct patient {
    friend bool operator==(patient const&, patient const&) = default;

    std::string id;
    std::optional<date_time> birth_date;  // any precision; day precision is usual
    administrative_gender gender = administrative_gender::unknown;
    bool gender_present = false;  // false when the element was absent
};

// Observation.component: a part of a panel result (e.g. an eGFR variant, a blood pressure).
struct observation_component {
    friend bool operator==(observation_component const&, observation_component const&) = default;

    codeable_concept code;
    std::optional<quantity> value_quantity;
    bool data_absent = false;
};

struct observation {
    friend bool operator==(observation const&, observation const&) = default;

    std::string id;
    std::string status;  // FHIR code as written ("final", "preliminary", ...)
    codeable_concept code;
    std::optional<quantity> value_quantity;
    std::optional<codeable_concept> value_concept;  // e.g. pregnancy status "Pregnant"
    bool has_value_other = false;                   // valueBoolean/valueString/... present
    bool data_absent = false;                       // dataAbsentReason present
    std::optional<date_time> effective_date_time;
    std::optional<period> effective_period;
    std::optional<date_time> effective_instant;
    std::optional<date_time> issued;
    std::string subject;  // Reference.reference as written
    std::vector<observation_component> components;

    // Time of the result per CLINICAL-BASIS.md §1: effectiveDateTime, else
    // effectivePeriod.end / .start, else effectiveInstant, else issued.
    [[nodiscard]] std::optional<date_time> result_time() const;
};

struct medication {
    friend bool operator==(medication const&, medication const&) = default;

    std::string id;
    codeable_concept code;
    codeable_concept form;
    std::vector<codeable_concept> ingredients;       // ingredient[].itemCodeableConcept
    std::vector<std::string> ingredient_references;  // ingredient[].itemReference.reference
    // Bundle.entry.fullUrl of the entry it came in ("urn:uuid:...", or an absolute URL), empty
    // when it came alone or contained: references resolve against it (FHIR R4 Bundle,
    // "Resolving references in Bundles").
    std::string full_url;
};

struct timing_repeat {
    friend bool operator==(timing_repeat const&, timing_repeat const&) = default;

    std::optional<double> frequency;
    std::optional<double> period;
    std::string period_unit;         // UCUM: s, min, h, d, wk, mo, a
    std::optional<double> duration;  // duration of one administration
    std::string duration_unit;
    std::optional<fhir::period> bounds_period;  // qualified: the member `period` hides the type
    std::optional<quantity> bounds_duration;    // e.g. 7 d
};

struct dosage {
    friend bool operator==(dosage const&, dosage const&) = default;
    // rate[x] was given, as a Quantity or a Ratio (the first doseAndRate to give one wins).
    [[nodiscard]] bool has_rate() const { return rate || rate_numerator || rate_denominator; }

    std::string text;
    codeable_concept route;
    std::optional<quantity> dose;  // doseAndRate[0].doseQuantity (R4) / doseQuantity (DSTU2)
    std::optional<quantity> rate;  // doseAndRate[0].rateQuantity / rateQuantity
    std::optional<quantity> rate_numerator;    // rateRatio.numerator
    std::optional<quantity> rate_denominator;  // rateRatio.denominator
    std::optional<timing_repeat> repeat;
    bool as_needed = false;
};

enum class medication_resource_kind { medication_request, medication_order, medication_statement };

struct condition;  // below; a vector of it may be declared first (C++17 [vector.overview])

// A MedicationRequest, DSTU2 MedicationOrder or MedicationStatement.
struct medication_order {
    friend bool operator==(medication_order const&, medication_order const&) = default;

    medication_resource_kind kind = medication_resource_kind::medication_request;
    std::string resource_type;  // as written, for actions ("MedicationRequest")
    std::string id;
    std::string status;
    std::string intent;
    std::optional<codeable_concept> medication_concept;  // medicationCodeableConcept
    std::optional<reference> medication_reference;       // medicationReference
    std::optional<date_time> authored_on;  // authoredOn / dateWritten / dateAsserted / effective
    // MedicationStatement.effective[x] (empty for requests and orders).
    std::optional<date_time> effective_date_time;
    std::optional<period> effective_period;
    std::vector<dosage> dosages;                       // dosageInstruction / dosage
    std::optional<quantity> expected_supply_duration;  // dispenseRequest.expectedSupplyDuration
    std::optional<period> validity_period;             // dispenseRequest.validityPeriod
    std::vector<codeable_concept> reason_codes;        // reasonCode (array or single object)
    std::vector<reference> reason_references;
    std::vector<codeable_concept> categories;
    std::vector<medication> contained_medications;
    std::vector<condition> contained_conditions;  // what a reasonReference "#id" may name
    std::string subject;
    // Where it was found ("prefetch.meds.entry[3].resource"): resolve_medication reports an
    // unresolved medicationReference under it. Only orders keep their path; issues about
    // the other resources are reported while they are read, each under its own path.
    std::string source_path;
    // The resource as received, kept for a hook's draft orders only (the service's hook reader
    // sets it): a CDS Hooks 2.0 `update` action carries the whole modified resource.
    std::shared_ptr<boost::json::object const> source_json;

    // Filled by resolve_medications(): the medication as far as it is known, from
    // medicationCodeableConcept or the referenced Medication (contained or in the snapshot).
    codeable_concept resolved_code;
    codeable_concept resolved_form;
    std::vector<codeable_concept> resolved_ingredients;
    // false: no medication yet (bare draft), or a reference that could not be resolved and has
    // no display text. An unresolved reference's display becomes resolved_code.text.
    bool medication_known = false;

    [[nodiscard]] bool has_medication() const { return medication_concept || medication_reference; }
};

struct condition {
    friend bool operator==(condition const&, condition const&) = default;

    std::string id;
    codeable_concept code;
    std::string clinical_status;      // clinicalStatus.coding[0].code, or DSTU2 string
    std::string verification_status;  // verificationStatus code
    std::optional<date_time> onset;   // onsetDateTime, or onsetPeriod.start
    bool onset_given = false;         // any onset[x], dated or not (onsetAge, onsetString, ...)
    std::optional<date_time> recorded_date;
    bool abated = false;  // any abatement[x] present
    std::vector<codeable_concept> categories;
    std::string subject;  // subject (R4) or patient (DSTU2) Reference.reference as written
};

// A ServiceRequest (R4): what the rules need to see a laboratory level that is already ordered
// (CLINICAL-BASIS.md §3.3: no suggestion duplicates an active or drafted order).
struct service_request {
    friend bool operator==(service_request const&, service_request const&) = default;

    std::string id;
    std::string status;  // FHIR code as written ("draft", "active", "completed", "revoked", ...)
    std::string intent;
    codeable_concept code;
    std::optional<date_time> occurrence_date_time;
    std::optional<period> occurrence_period;
    bool occurrence_given = false;  // any occurrence[x], readable or not (occurrenceTiming)
    std::optional<date_time> authored_on;
    std::string subject;  // Reference.reference as written

    // When it is to be done: occurrenceDateTime, else occurrencePeriod.start, else its end.
    [[nodiscard]] std::optional<date_time> occurrence_time() const;
};

// Single-resource parsers. Each returns nullopt (with an error issue) when the resource is
// unusable, and never throws on data. `path` is the element path of the resource itself.
[[nodiscard]] std::optional<patient> parse_patient(boost::json::value const& v,
                                                   std::string const& path,
                                                   issue_list& issues);
[[nodiscard]] std::optional<observation> parse_observation(boost::json::value const& v,
                                                           std::string const& path,
                                                           issue_list& issues);
[[nodiscard]] std::optional<medication> parse_medication(boost::json::value const& v,
                                                         std::string const& path,
                                                         issue_list& issues);
[[nodiscard]] std::optional<medication_order> parse_medication_order(boost::json::value const& v,
                                                                     std::string const& path,
                                                                     issue_list& issues);
[[nodiscard]] std::optional<condition> parse_condition(boost::json::value const& v,
                                                       std::string const& path,
                                                       issue_list& issues);
[[nodiscard]] std::optional<service_request> parse_service_request(boost::json::value const& v,
                                                                   std::string const& path,
                                                                   issue_list& issues);

}  // namespace cds::fhir
