#include "cds/service/cds/json_schema.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/json.hpp>

#include "cds/fhir/json_kind.hpp"

namespace cds::service {

namespace {

using rapidjson::SizeType;

// Replays a Boost.JSON value as SAX events into RapidJSON's validator, so the request is
// parsed once (by Boost.JSON) and still checked by a JSON Schema. Depth is bounded by the
// parse options the body was parsed with. A container `depth` levels below the document with
// depth > replay_depth is replayed empty: its type still reaches the validator, its contents
// (e.g. a whole prefetch Bundle, which the schema does not look into) do not.
bool feed(rapidjson::SchemaValidator& validator,
          boost::json::value const& value,
          std::size_t depth,
          std::size_t replay_depth) {
    switch (value.kind()) {
        case boost::json::kind::null:
            return validator.Null();
        case boost::json::kind::bool_:
            return validator.Bool(value.get_bool());
        case boost::json::kind::int64:
            return validator.Int64(value.get_int64());
        case boost::json::kind::uint64:
            return validator.Uint64(value.get_uint64());
        case boost::json::kind::double_: {
            // RapidJSON 1.1.0 hashes every double for `enum` checks by converting it to int64 /
            // uint64 (schema.h Hasher::Double), which is undefined for magnitudes of 2^63 and
            // above (found by fuzzing: fixtures/regressions/service_request/). No schema bound
            // comes near that, so clamping changes no verdict.
            constexpr double largest_hashable = 9.2e18;
            return validator.Double(
                std::clamp(value.get_double(), -largest_hashable, largest_hashable));
        }
        case boost::json::kind::string: {
            auto const& s = value.get_string();
            return validator.String(s.data(), static_cast<SizeType>(s.size()), true);
        }
        case boost::json::kind::array: {
            auto const& a = value.get_array();
            if (!validator.StartArray()) return false;
            if (depth > replay_depth) return validator.EndArray(0);
            for (auto const& element : a) {
                if (!feed(validator, element, depth + 1, replay_depth)) return false;
            }
            return validator.EndArray(static_cast<SizeType>(a.size()));
        }
        case boost::json::kind::object: {
            auto const& o = value.get_object();
            if (!validator.StartObject()) return false;
            if (depth > replay_depth) return validator.EndObject(0);
            for (auto const& member : o) {
                if (!validator.Key(member.key().data(), static_cast<SizeType>(member.key().size()),
                                   true)) {
                    return false;
                }
                if (!feed(validator, member.value(), depth + 1, replay_depth)) return false;
            }
            return validator.EndObject(static_cast<SizeType>(o.size()));
        }
    }
    return false;
}

std::string to_json_text(rapidjson::Value const& v) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    v.Accept(writer);
    return {buffer.GetString(), buffer.GetSize()};
}

std::string_view kind_name(boost::json::value const* v) {
    if (v == nullptr) return "absent";
    return fhir::json_kind_phrase(*v, fhir::integer_wording::as_integer);
}

std::string type_phrase(std::string_view type) {
    if (type == "object" || type == "array" || type == "integer")
        return std::string{"an "} + std::string{type};
    if (type == "null") return "null";
    return std::string{"a "} + std::string{type};
}

std::string display(std::string const& path) {
    return path.empty() ? std::string{"the document"} : path;
}

}  // namespace

std::string append_member(std::string_view path, std::string_view member) {
    std::string out{path};
    if (!out.empty()) out += '.';
    out += member;
    return out;
}

std::string append_index(std::string_view path, std::size_t index) {
    std::string out{path};
    out += '[';
    out += std::to_string(index);
    out += ']';
    return out;
}

struct json_schema::impl {
    std::string name;
    rapidjson::Document schema_document;  // kept alive for the compiled schemas and for messages

    // RapidJSON 1.1 keeps the match state of a compiled `pattern` inside the compiled schema
    // (GenericRegex::state0_/state1_ are `mutable`), so one compiled schema must never validate
    // on two threads at once: concurrent requests with a fhirServer crashed the server. Each
    // validation borrows a compiled copy from this pool, compiling another when all are in
    // use, so the pool grows to the peak number of concurrent validations and no further.
    std::mutex pool_mutex;
    std::vector<std::unique_ptr<rapidjson::SchemaDocument>> idle;  // guarded by pool_mutex

    std::unique_ptr<rapidjson::SchemaDocument> borrow() {
        {
            std::lock_guard lock(pool_mutex);
            if (!idle.empty()) {
                auto compiled = std::move(idle.back());
                idle.pop_back();
                return compiled;
            }
        }
        return std::make_unique<rapidjson::SchemaDocument>(schema_document);
    }
    void give_back(std::unique_ptr<rapidjson::SchemaDocument> compiled) {
        std::lock_guard lock(pool_mutex);
        idle.push_back(std::move(compiled));
    }

    [[nodiscard]] schema_violation describe(rapidjson::SchemaValidator const& validator,
                                            boost::json::value const& document,
                                            std::string_view base_path) const;
};

json_schema::json_schema(std::string_view schema_text, std::string name)
    : impl_{std::make_unique<impl>()} {
    impl_->name = std::move(name);
    impl_->schema_document.Parse(schema_text.data(), schema_text.size());
    if (impl_->schema_document.HasParseError() || !impl_->schema_document.IsObject()) {
        throw std::runtime_error("JSON Schema '" + impl_->name + "' is not a JSON object");
    }
    impl_->give_back(impl_->borrow());  // the first compiled copy, made at start-up
}

json_schema::~json_schema() = default;
json_schema::json_schema(json_schema&&) noexcept = default;
json_schema& json_schema::operator=(json_schema&&) noexcept = default;

std::string const& json_schema::name() const { return impl_->name; }

std::optional<schema_violation> json_schema::validate(boost::json::value const& document,
                                                      std::string_view base_path,
                                                      std::size_t replay_depth) const {
    struct borrowed {
        impl& owner;
        std::unique_ptr<rapidjson::SchemaDocument> compiled;
        ~borrowed() { owner.give_back(std::move(compiled)); }
    } schema{*impl_, impl_->borrow()};
    rapidjson::SchemaValidator validator(*schema.compiled);
    if (feed(validator, document, 0, replay_depth) && validator.IsValid()) return std::nullopt;
    return impl_->describe(validator, document, base_path);
}

namespace {

// The failing element: the document walked along the validator's pointer, building the
// element path; tokens are array indices exactly when the value at that point is an array.
struct failing_element {
    std::string path;
    boost::json::value const* node = nullptr;  // null when the pointer leaves the document
};

failing_element find_failing_element(rapidjson::SchemaValidator const& validator,
                                     boost::json::value const& document,
                                     std::string_view base_path) {
    auto const doc_pointer = validator.GetInvalidDocumentPointer();
    failing_element at{std::string{base_path}, &document};
    for (SizeType i = 0; i < doc_pointer.GetTokenCount(); ++i) {
        auto const& token = doc_pointer.GetTokens()[i];
        std::string_view token_name{token.name, token.length};
        if (at.node != nullptr && at.node->is_array() &&
            token.index != rapidjson::kPointerInvalidIndex) {
            at.path = append_index(at.path, token.index);
            auto const& a = at.node->get_array();
            at.node = token.index < a.size() ? &a[token.index] : nullptr;
        } else {
            at.path = append_member(at.path, token_name);
            at.node = (at.node != nullptr && at.node->is_object())
                          ? at.node->get_object().if_contains(token_name)
                          : nullptr;
        }
    }
    return at;
}

// The member `key` of the failing schema node, or null.
rapidjson::Value const* schema_member(rapidjson::Value const* schema_node, char const* key) {
    if (schema_node == nullptr || !schema_node->IsObject()) return nullptr;
    auto it = schema_node->FindMember(key);
    return it == schema_node->MemberEnd() ? nullptr : &it->value;
}

// "required": names the first required member the object lacks.
void describe_required(rapidjson::Value const* required,
                       boost::json::object const* object,
                       std::string const& path,
                       schema_violation& out) {
    if (required != nullptr && required->IsArray()) {
        for (auto const& required_name : required->GetArray()) {
            if (!required_name.IsString()) continue;
            std::string_view key{required_name.GetString(), required_name.GetStringLength()};
            if (object == nullptr || !object->contains(key)) {
                out.path = append_member(path, key);
                out.message = out.path + " is required";
                return;
            }
        }
    }
    out.path = path;
    out.message = display(path) + " lacks a required member";
}

// "dependencies": names the first member required by a member that is present.
void describe_dependencies(rapidjson::Value const* deps,
                           boost::json::object const* object,
                           std::string const& path,
                           schema_violation& out) {
    if (deps != nullptr && deps->IsObject() && object != nullptr) {
        for (auto const& dep : deps->GetObject()) {
            std::string_view present{dep.name.GetString(), dep.name.GetStringLength()};
            if (!object->contains(present) || !dep.value.IsArray()) continue;
            for (auto const& needed : dep.value.GetArray()) {
                if (!needed.IsString()) continue;
                std::string_view key{needed.GetString(), needed.GetStringLength()};
                if (!object->contains(key)) {
                    out.path = append_member(path, key);
                    out.message = out.path + " is required when " + append_member(path, present) +
                                  " is present";
                    return;
                }
            }
        }
    }
    out.path = path;
    out.message = display(path) + " lacks a member another member depends on";
}

// "type": what the element must be ("a string or an array"), and what it is.
std::string type_message(rapidjson::Value const* type,
                         std::string const& where,
                         boost::json::value const* node) {
    std::string expected;
    if (type != nullptr) {
        if (type->IsString()) {
            expected = type_phrase(type->GetString());
        } else if (type->IsArray()) {
            auto const& types = type->GetArray();
            for (SizeType i = 0; i < types.Size(); ++i) {
                if (!types[i].IsString()) continue;
                if (!expected.empty()) expected += (i + 1 == types.Size()) ? " or " : ", ";
                expected += type_phrase(types[i].GetString());
            }
        }
    }
    return where + " must be " + (expected.empty() ? std::string{"of another type"} : expected) +
           ", not " + std::string{kind_name(node)};
}

// Every other keyword, about the element at `where`.
std::string constraint_message(std::string const& keyword,
                               rapidjson::Value const* schema_node,
                               std::string const& where,
                               boost::json::value const* node) {
    if (keyword == "type") return type_message(schema_member(schema_node, "type"), where, node);
    if (keyword == "enum") {
        std::string allowed;
        if (auto const* values = schema_member(schema_node, "enum");
            values != nullptr && values->IsArray()) {
            for (auto const& v : values->GetArray()) {
                if (!allowed.empty()) allowed += ", ";
                allowed += to_json_text(v);
            }
        }
        return where + " must be one of " + allowed;
    }
    if (keyword == "minLength" || keyword == "minItems" || keyword == "minProperties") {
        if (auto const* n = schema_member(schema_node, keyword.c_str());
            n != nullptr && n->IsUint() && n->GetUint() > 1) {
            return where + " is too short (" + keyword + " " + std::to_string(n->GetUint()) + ")";
        }
        return where + " must not be empty";
    }
    if (keyword == "pattern") return where + " has an invalid format";
    if (keyword == "additionalProperties") return where + " has a member that is not allowed here";
    return where + " violates the schema constraint \"" + keyword + "\"";
}

}  // namespace

schema_violation json_schema::impl::describe(rapidjson::SchemaValidator const& validator,
                                             boost::json::value const& document,
                                             std::string_view base_path) const {
    schema_violation out;
    out.keyword = validator.GetInvalidSchemaKeyword();
    auto const element = find_failing_element(validator, document, base_path);
    rapidjson::Value const* schema_node = validator.GetInvalidSchemaPointer().Get(schema_document);
    boost::json::object const* object = (element.node != nullptr && element.node->is_object())
                                            ? &element.node->get_object()
                                            : nullptr;
    if (out.keyword == "required") {
        describe_required(schema_member(schema_node, "required"), object, element.path, out);
        return out;
    }
    if (out.keyword == "dependencies") {
        describe_dependencies(schema_member(schema_node, "dependencies"), object, element.path,
                              out);
        return out;
    }
    out.path = element.path;
    out.message = constraint_message(out.keyword, schema_node, display(element.path), element.node);
    // The schema's own description of the element, where it has one, says what is expected.
    if (auto const* description = schema_member(schema_node, "description");
        description != nullptr && description->IsString()) {
        out.message += " (";
        out.message += description->GetString();
        out.message += ")";
    }
    return out;
}

}  // namespace cds::service
