#include "cds/fhir/read_members.hpp"

#include <algorithm>
#include <array>

namespace cds::fhir {

namespace {

// A member name, or a choice-type prefix (FHIR R4 "Choice of Data Types": value[x],
// onset[x], ...) for readers that look at every member starting with it.
struct member_name {
    std::string_view name;
    bool prefix = false;
};

constexpr member_name exact(std::string_view n) { return {n, false}; }
constexpr member_name choice(std::string_view n) { return {n, true}; }

// Mirrors read_patient (resources.cpp).
constexpr std::array patient_members{exact("birthDate"), exact("gender")};

// Mirrors read_observation: has_value_other looks at every value[x].
constexpr std::array observation_members{
    exact("status"),     exact("code"),   choice("value"),  exact("dataAbsentReason"),
    choice("effective"), exact("issued"), exact("subject"), exact("component")};

// Mirrors read_medication_order for MedicationRequest (R4), MedicationOrder (DSTU2) and
// MedicationStatement.
constexpr std::array medication_order_members{
    exact("status"),          exact("intent"),
    choice("medication"),     exact("authoredOn"),
    exact("dateWritten"),     choice("effective"),
    exact("dateAsserted"),    exact("dosageInstruction"),
    exact("dosage"),          exact("dispenseRequest"),
    exact("reasonCode"),      exact("reasonCodeableConcept"),
    exact("reasonReference"), exact("category"),
    exact("contained"),       exact("subject"),
    exact("patient")};

// Mirrors read_condition: onset_given and abated look at every onset[x] and abatement[x].
constexpr std::array condition_members{
    exact("code"),         exact("clinicalStatus"), exact("verificationStatus"),
    exact("subject"),      exact("patient"),        choice("onset"),
    exact("recordedDate"), exact("dateRecorded"),   exact("assertedDate"),
    choice("abatement"),   exact("category")};

// Mirrors read_service_request.
constexpr std::array service_request_members{exact("status"),     exact("intent"),
                                             exact("code"),       choice("occurrence"),
                                             exact("authoredOn"), exact("subject")};

// Mirrors read_medication.
constexpr std::array medication_members{exact("code"), exact("form"), exact("ingredient")};

template <std::size_t N>
bool listed(std::array<member_name, N> const& members, std::string_view member) {
    return std::any_of(members.begin(), members.end(), [&](member_name const& m) {
        return m.prefix ? member.starts_with(m.name) : member == m.name;
    });
}

}  // namespace

std::string_view snapshot_resource_type(std::string_view t) {
    static constexpr std::array<std::string_view, 8> types{
        "Patient",         "Observation",         "Medication", "MedicationRequest",
        "MedicationOrder", "MedicationStatement", "Condition",  "ServiceRequest"};
    auto const it = std::find(types.begin(), types.end(), t);
    return it == types.end() ? std::string_view{} : *it;
}

bool is_snapshot_resource_type(std::string_view t) { return !snapshot_resource_type(t).empty(); }

bool is_read_member(std::string_view t, std::string_view member) {
    if (member == "resourceType" || member == "id") return true;
    if (t == "Observation") return listed(observation_members, member);
    if (t == "MedicationRequest" || t == "MedicationOrder" || t == "MedicationStatement")
        return listed(medication_order_members, member);
    if (t == "Patient") return listed(patient_members, member);
    if (t == "Condition") return listed(condition_members, member);
    if (t == "ServiceRequest") return listed(service_request_members, member);
    if (t == "Medication") return listed(medication_members, member);
    return false;
}

}  // namespace cds::fhir
