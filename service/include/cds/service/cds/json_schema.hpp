#pragma once
// JSON Schema (draft-04, RapidJSON's SchemaValidator) applied to an already parsed Boost.JSON
// value, so the body is parsed once. RapidJSON stays out of this header.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>

namespace cds::service {

struct schema_violation {
    std::string
        path;  // element path, e.g. "context.draftOrders" or "fhirAuthorization.access_token"
    std::string keyword;  // the schema keyword that failed: "required", "type", ...
    std::string message;  // what is wrong, naming the path
};

class json_schema {
public:
    // Compiles a schema. Throws std::runtime_error when the text is not a JSON object (a
    // start-up error: the schemas are embedded at build time).
    json_schema(std::string_view schema_text, std::string name);
    ~json_schema();
    json_schema(json_schema&&) noexcept;
    json_schema& operator=(json_schema&&) noexcept;

    // Every container is replayed to the validator (the default).
    static constexpr std::size_t full_depth = static_cast<std::size_t>(-1);

    // Thread-safe (each call validates with a compiled copy of its own). `base_path` prefixes
    // reported paths, e.g. "context" when validating request.context on its own.
    // `replay_depth`: containers nested deeper than this many levels below `document` (the
    // document is level 0, its members level 1) are validated as if empty ({} or []); their
    // type is still checked. Only for schemas that constrain nothing below that level: the
    // CDS Hooks request and context schemas pass 1, so that a prefetch Bundle or the draft
    // orders are not replayed value by value (resource shapes are the typed parser's job).
    [[nodiscard]] std::optional<schema_violation> validate(
        boost::json::value const& document,
        std::string_view base_path = {},
        std::size_t replay_depth = full_depth) const;
    [[nodiscard]] std::string const& name() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Dotted element path from JSON-pointer-like tokens: {"context","draftOrders","entry","0"}
// with numeric tokens for arrays -> "context.draftOrders.entry[0]".
[[nodiscard]] std::string append_member(std::string_view path, std::string_view member);
[[nodiscard]] std::string append_index(std::string_view path, std::size_t index);

}  // namespace cds::service
