#include "cds/service/cds/errors.hpp"

#include <array>
#include <string>

namespace cds::service {

namespace {

// One row per code, in numeric order; the table test checks every code has a row.
struct errc_row {
    errc code;
    errc_info info;
};

constexpr std::array<errc_row, 22> errc_table{{
    {errc::malformed_json,
     {400, "malformed-json", "structure", "The request body is not valid JSON."}},
    {errc::json_too_deep,
     {400, "json-too-deep", "too-costly",
      "The request body nests JSON deeper than the service accepts."}},
    {errc::schema_violation,
     {400, "schema-violation", "structure",
      "The request does not have the shape the CDS Hooks specification requires."}},
    {errc::hook_mismatch,
     {400, "hook-mismatch", "invalid", "The request's hook is not the hook this service answers."}},
    {errc::unknown_service,
     {404, "unknown-service", "not-found", "There is no CDS service with this id."}},
    {errc::unknown_path, {404, "unknown-path", "not-found", "There is no endpoint at this path."}},
    {errc::method_not_allowed,
     {405, "method-not-allowed", "not-supported",
      "This endpoint does not support the request's method."}},
    {errc::body_too_large,
     {413, "body-too-large", "too-costly", "The request body is larger than the service accepts."}},
    {errc::unsupported_media_type,
     {415, "unsupported-media-type", "not-supported",
      "The request body must be application/json."}},
    {errc::required_data_unavailable,
     {412, "required-data-unavailable", "incomplete",
      "Data the service requires was neither prefetched nor obtainable from the FHIR server."}},
    {errc::headers_too_large,
     {431, "headers-too-large", "too-costly",
      "The request headers are larger than the service accepts."}},
    {errc::too_many_connections,
     {503, "too-many-connections", "throttled",
      "The service is at its connection limit; retry shortly."}},
    {errc::malformed_http,
     {400, "malformed-http", "structure", "The request is not valid HTTP/1.1."}},
    {errc::request_timeout,
     {408, "request-timeout", "timeout", "The request did not arrive in time."}},
    {errc::internal_error,
     {500, "internal-error", "exception", "The service failed to process the request."}},
    {errc::unauthorized, {401, "unauthorized", "security", "Authentication failed."}},
    {errc::not_ready, {503, "not-ready", "transient", "The service is not ready."}},
    {errc::too_many_resources,
     {413, "too-many-resources", "too-costly",
      "The request carries more FHIR resources than the service accepts."}},
    {errc::unsupported_content_encoding,
     {415, "unsupported-content-encoding", "not-supported",
      "The request body must be sent without a content coding (identity)."}},
    {errc::unsupported_transfer_coding,
     {501, "unsupported-transfer-coding", "not-supported",
      "The request uses a transfer coding the service does not implement; only chunked is."}},
    {errc::bodies_over_budget,
     {503, "bodies-over-budget", "throttled",
      "The service holds as many request bodies as it accepts at once; retry shortly."}},
    {errc::bad_query,
     {400, "bad-query", "invalid", "A query parameter of the request is not accepted here."}},
}};

constexpr std::array<errc, errc_table.size()> all_codes = [] {
    std::array<errc, errc_table.size()> codes{};
    for (std::size_t i = 0; i < errc_table.size(); ++i) codes[i] = errc_table[i].code;
    return codes;
}();

class category final : public std::error_category {
public:
    [[nodiscard]] char const* name() const noexcept override { return "cds.service"; }
    [[nodiscard]] std::string message(int value) const override {
        for (auto const& row : errc_table) {
            if (static_cast<int>(row.code) == value) return std::string{row.info.message};
        }
        return "unknown cds.service error";
    }
};

}  // namespace

std::span<errc const> all_errcs() { return all_codes; }

errc_info const& info(errc code) {
    for (auto const& row : errc_table) {
        if (row.code == code) return row.info;
    }
    // Every enumerator has a row (checked by the table test); reaching here is a bug.
    return errc_table[static_cast<std::size_t>(errc::internal_error) - 1].info;
}

std::error_category const& service_category() {
    static category const instance;
    return instance;
}

std::error_code make_error_code(errc code) { return {static_cast<int>(code), service_category()}; }

}  // namespace cds::service
