#include "cds/service/fhir_client/prefetch_query.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace cds::service::fhir_client;

namespace {

boost::json::object const context = boost::json::parse(R"({
    "patientId": "pat-mg-low-1",
    "userId": "Practitioner/prac-7",
    "encounterId": "enc.42",
    "visitNumber": 17,
    "isEmergency": true,
    "emptyField": "",
    "draftOrders": {"resourceType": "Bundle", "entry": []},
    "selections": ["MedicationRequest/draft-1"],
    "nothing": null
})")
                                        .as_object();

token_source tokens_for(boost::json::object const& ctx) {
    token_source tokens;
    tokens.context = &ctx;
    return tokens;
}

// Resolves and renders under base "/fhir"; a failure renders as "FAIL: <reason>".
std::string render(std::string_view template_text,
                   token_source const& tokens = tokens_for(context)) {
    auto query = resolve_prefetch_template(template_text, tokens);
    if (!query) return "FAIL: " + query.error();
    return encoded_target("/fhir", *query);
}

std::string failure(std::string_view template_text,
                    token_source const& tokens = tokens_for(context)) {
    auto query = resolve_prefetch_template(template_text, tokens);
    return query ? std::string("(resolved)") : query.error();
}

}  // namespace

TEST_CASE("context tokens are substituted and the query is percent-encoded") {
    CHECK(render("Patient/{{context.patientId}}") == "/fhir/Patient/pat-mg-low-1");
    CHECK(
        render("Observation?patient={{context.patientId}}&code=http://"
               "loinc.org|19123-9&_sort=-date") ==
        "/fhir/Observation?patient=pat-mg-low-1&code=http%3A%2F%2Floinc.org%7C19123-9&_sort=-date");
    // ',' is FHIR's "or" between values and stays literal.
    CHECK(render("Observation?patient={{context.patientId}}&code=http://loinc.org|19123-9,http://"
                 "loinc.org|2601-3") ==
          "/fhir/"
          "Observation?patient=pat-mg-low-1&code=http%3A%2F%2Floinc.org%7C19123-9,http%3A%2F%"
          "2Floinc.org%7C2601-3");
    CHECK(render("MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:"
                 "medication") ==
          "/fhir/MedicationRequest?patient=pat-mg-low-1&_include=MedicationRequest%3Amedication");
    CHECK(render("Encounter/{{context.encounterId}}") == "/fhir/Encounter/enc.42");
    CHECK(render("Observation?subject=Patient/{{context.patientId}}&_count=50") ==
          "/fhir/Observation?subject=Patient%2Fpat-mg-low-1&_count=50");
}

TEST_CASE("an already percent-encoded template is not encoded twice") {
    CHECK(
        render("Observation?patient={{context.patientId}}&code=http%3A%2F%2Floinc.org%7C19123-9") ==
        "/fhir/Observation?patient=pat-mg-low-1&code=http%3A%2F%2Floinc.org%7C19123-9");
    CHECK(failure("Observation?code=%zz").find("percent-encoding") != std::string::npos);
}

TEST_CASE("'+' in a template is a plus sign, not a space") {
    CHECK(render("Observation?patient={{context.patientId}}&date=ge2024-01-01T00:00:00+01:00") ==
          "/fhir/Observation?patient=pat-mg-low-1&date=ge2024-01-01T00%3A00%3A00%2B01%3A00");
}

TEST_CASE("modifiers in parameter names stay readable") {
    CHECK(render("Condition?patient={{context.patientId}}&code:in=http://example.org/vs") ==
          "/fhir/Condition?patient=pat-mg-low-1&code:in=http%3A%2F%2Fexample.org%2Fvs");
}

TEST_CASE("whitespace inside the braces is tolerated") {
    CHECK(render("Patient/{{ context.patientId }}") == "/fhir/Patient/pat-mg-low-1");
}

TEST_CASE("a context field holding a reference forms a read of that resource") {
    // CDS Hooks 2.0: "user": "{{context.userId}}" reads the user, e.g. Practitioner/prac-7.
    auto query = resolve_prefetch_template("{{context.userId}}", tokens_for(context));
    REQUIRE(query.has_value());
    CHECK(query->path == std::vector<std::string>{"Practitioner", "prac-7"});
    CHECK_FALSE(query->is_search());
    CHECK(query->resource_type() == "Practitioner");
    CHECK(render("{{context.userId}}") == "/fhir/Practitioner/prac-7");
}

TEST_CASE("numbers and booleans are primitives and can be tokens") {
    CHECK(render("Encounter?identifier={{context.visitNumber}}&x={{context.isEmergency}}") ==
          "/fhir/Encounter?identifier=17&x=true");
}

TEST_CASE("user tokens are derived from context.userId when its type matches") {
    CHECK(render("Practitioner/{{userPractitionerId}}") == "/fhir/Practitioner/prac-7");

    auto const as_role =
        boost::json::parse(R"({"patientId":"p1","userId":"PractitionerRole/role-3"})").as_object();
    CHECK(render("PractitionerRole?_id={{userPractitionerRoleId}}&_include=PractitionerRole:"
                 "practitioner",
                 tokens_for(as_role)) ==
          "/fhir/PractitionerRole?_id=role-3&_include=PractitionerRole%3Apractitioner");
    CHECK(failure("Practitioner/{{userPractitionerId}}", tokens_for(as_role)) ==
          "prefetch token {{userPractitionerId}} cannot be resolved: the current user "
          "(context.userId) is not a "
          "Practitioner");

    auto const as_patient =
        boost::json::parse(R"({"patientId":"p1","userId":"Patient/p1"})").as_object();
    CHECK(render("Patient/{{userPatientId}}", tokens_for(as_patient)) == "/fhir/Patient/p1");
    auto const as_proxy =
        boost::json::parse(R"({"patientId":"p1","userId":"RelatedPerson/rp-9"})").as_object();
    CHECK(render("RelatedPerson/{{userRelatedPersonId}}", tokens_for(as_proxy)) ==
          "/fhir/RelatedPerson/rp-9");
    CHECK(failure("RelatedPerson/{{userRelatedPersonId}}") != "(resolved)");
}

TEST_CASE("an explicitly given user id wins over context.userId") {
    auto const as_role = boost::json::parse(R"({"userId":"PractitionerRole/role-3"})").as_object();
    auto tokens = tokens_for(as_role);
    tokens.user_practitioner_id = "prac-from-ehr";
    CHECK(render("Practitioner/{{userPractitionerId}}", tokens) ==
          "/fhir/Practitioner/prac-from-ehr");
}

TEST_CASE("unresolvable tokens fail the query with a reason naming the token") {
    auto const no_encounter =
        boost::json::parse(R"({"patientId":"p1","userId":"Practitioner/x"})").as_object();
    CHECK(
        failure("Encounter/{{context.encounterId}}", tokens_for(no_encounter)) ==
        "prefetch token {{context.encounterId}} cannot be resolved: context.encounterId is absent");
    CHECK(failure("Bundle?x={{context.draftOrders}}") ==
          "prefetch token {{context.draftOrders}} cannot be resolved: context.draftOrders is not a "
          "primitive value");
    CHECK(failure("Observation?x={{context.selections}}").find("is not a primitive value") !=
          std::string::npos);
    CHECK(failure("Observation?x={{context.nothing}}").find("is not a primitive value") !=
          std::string::npos);
    CHECK(failure("Observation?x={{context.emptyField}}").find("is empty") != std::string::npos);
    // Only root-level context fields are tokens (CDS Hooks 2.0 "Prefetch tokens").
    CHECK(failure("Medication/{{context.medication.id}}") ==
          "prefetch token {{context.medication.id}} is not a root-level context field");
    // The 1.0-draft names are not tokens any more.
    CHECK(failure("Patient/{{Patient.id}}") == "unknown prefetch token {{Patient.id}}");
    CHECK(failure("Patient/{{context.patientId") ==
          "the prefetch template has an unterminated {{ token");
    token_source no_context;
    CHECK(failure("Patient/{{context.patientId}}", no_context).find("has no context") !=
          std::string::npos);
}

TEST_CASE("a token value cannot change the shape of the query") {
    auto const hostile =
        boost::json::parse(
            R"({"patientId":"123&subject=Patient/999","encounterId":"../../admin","userId":"a,b|c$d\\e"})")
            .as_object();
    // In a query value, '&' and '=' are data: percent-encoded.
    CHECK(render("Observation?patient={{context.patientId}}", tokens_for(hostile)) ==
          "/fhir/Observation?patient=123%26subject%3DPatient%2F999");
    // FHIR search escaping keeps ',', '|', '$' and '\' from acting as separators.
    CHECK(render("Observation?performer={{context.userId}}", tokens_for(hostile)) ==
          "/fhir/Observation?performer=a%5C,b%5C%7Cc%5C%24d%5C%5Ce");
    // In a path only an id or a Type/id reference is accepted.
    auto const reason = failure("Encounter/{{context.encounterId}}", tokens_for(hostile));
    CHECK(reason ==
          "the value of prefetch token {{context.encounterId}} is not a FHIR id or reference, so "
          "it cannot "
          "form a FHIR read");
    CHECK(reason.find("admin") == std::string::npos);  // the value itself is never echoed
    CHECK(failure("Patient/{{context.patientId}}", tokens_for(hostile)).find("999") ==
          std::string::npos);
    auto const control = boost::json::parse(R"({"patientId":"p1\r\nX-Evil: 1"})").as_object();
    CHECK(failure("Observation?patient={{context.patientId}}", tokens_for(control))
              .find("control characters") != std::string::npos);
}

TEST_CASE("templates that are not relative FHIR reads or searches are refused") {
    CHECK(failure("") == "the prefetch template is empty");
    CHECK(failure("http://evil.example/Patient/1") ==
          "the prefetch template is not relative to the FHIR server");
    CHECK(failure("//evil.example/Patient/1") ==
          "the prefetch template is not relative to the FHIR server");
    CHECK(failure("Patient/../../admin") ==
          "the prefetch template's path has an empty or relative segment");
    CHECK(failure("Patient//1") == "the prefetch template's path has an empty or relative segment");
    CHECK(failure("patient?x=1") ==
          "the prefetch template does not start with a FHIR resource type");
    CHECK(failure("Patient/1#frag").find("fragment") != std::string::npos);
    CHECK(failure("Observation?=5") ==
          "the prefetch template has a query parameter without a name");
}

TEST_CASE("search or read") {
    CHECK(resolve_prefetch_template("Observation?patient=1", {})->is_search());
    CHECK(resolve_prefetch_template("/Observation", {})->is_search());
    CHECK_FALSE(resolve_prefetch_template("Patient/1", {})->is_search());
}

TEST_CASE("encoding functions") {
    auto check = [](std::string_view in, std::string_view value, std::string_view name,
                    std::string_view segment) {
        CAPTURE(in);
        CHECK(encode_query_value(in) == value);
        CHECK(encode_query_name(in) == name);
        CHECK(encode_path_segment(in) == segment);
    };
    check("http://loinc.org|19123-9", "http%3A%2F%2Floinc.org%7C19123-9",
          "http:%2F%2Floinc.org%7C19123-9", "http:%2F%2Floinc.org%7C19123-9");
    check("a b", "a%20b", "a%20b", "a%20b");
    check("code:in", "code%3Ain", "code:in", "code:in");
    check("x,y", "x,y", "x%2Cy", "x,y");
    check("1.5-_~", "1.5-_~", "1.5-_~", "1.5-_~");
    check("ü", "%C3%BC", "%C3%BC", "%C3%BC");
    check("?&=#%", "%3F%26%3D%23%25", "%3F%26%3D%23%25", "%3F&=%23%25");
}

TEST_CASE("encoded_target joins the base path without doubling slashes") {
    fhir_query query;
    query.path = {"Patient", "1"};
    CHECK(encoded_target("/fhir/r4/", query) == "/fhir/r4/Patient/1");
    CHECK(encoded_target("", query) == "/Patient/1");
    query.path = {"Observation"};
    query.params = {{"patient", "1"}, {"_summary", ""}};
    CHECK(encoded_target("", query) == "/Observation?patient=1&_summary=");
}
