#include "loader/schema_validation.hpp"

#include <set>
#include <stdexcept>
#include <string>

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <boost/json.hpp>

namespace cds::rules {

namespace {

using rj_pointer = rapidjson::Pointer;

std::string pointer_text(rj_pointer const& p) {
    rapidjson::StringBuffer sb;
    p.Stringify(sb);
    std::string s = sb.GetString();
    return s.empty() ? std::string("/") : s;
}

std::string type_name(rapidjson::Value const& v) {
    switch (v.GetType()) {
        case rapidjson::kNullType:
            return "null";
        case rapidjson::kFalseType:
        case rapidjson::kTrueType:
            return "boolean";
        case rapidjson::kObjectType:
            return "object";
        case rapidjson::kArrayType:
            return "array";
        case rapidjson::kStringType:
            return "string";
        case rapidjson::kNumberType:
            return v.IsInt64() || v.IsUint64() ? "integer" : "number";
    }
    return "value";
}

std::string value_text(rapidjson::Value const& v) {
    if (v.IsString()) return std::string("\"") + v.GetString() + "\"";
    if (v.IsNumber()) {
        boost::json::value bv = v.IsInt64()    ? boost::json::value(v.GetInt64())
                                : v.IsUint64() ? boost::json::value(v.GetUint64())
                                               : boost::json::value(v.GetDouble());
        return boost::json::serialize(bv);
    }
    return type_name(v);
}

std::string join_schema_list(rapidjson::Value const* list) {
    if (!list || !list->IsArray()) return {};
    std::string out;
    for (auto const& e : list->GetArray()) {
        if (!out.empty()) out += ", ";
        out += value_text(e);
    }
    return out;
}

// Explains one failed keyword using the schema node it belongs to.
std::string explain(std::string const& keyword,
                    rapidjson::Value const* schema_node,
                    rapidjson::Value const* doc_node,
                    std::string const& last_token) {
    auto member = [&](char const* name) -> rapidjson::Value const* {
        if (!schema_node || !schema_node->IsObject()) return nullptr;
        auto it = schema_node->FindMember(name);
        return it == schema_node->MemberEnd() ? nullptr : &it->value;
    };
    auto num = [&](char const* name) {
        auto const* v = member(name);
        return v ? value_text(*v) : std::string("?");
    };
    std::string const found = doc_node ? value_text(*doc_node) : std::string("value");
    if (keyword == "additionalProperties")
        return "unknown member '" + last_token + "' (not allowed here)";
    if (keyword == "type") {
        auto const* t = member("type");
        std::string expected =
            t ? (t->IsString() ? std::string(t->GetString()) : join_schema_list(t)) : "?";
        return "expected " + expected + ", found " + (doc_node ? type_name(*doc_node) : "value");
    }
    if (keyword == "minimum") {
        auto const* ex = member("exclusiveMinimum");
        bool const exclusive = ex && ex->IsBool() && ex->GetBool();
        return found + " must be " + (exclusive ? "greater than " : "at least ") + num("minimum");
    }
    if (keyword == "maximum") return found + " must be at most " + num("maximum");
    if (keyword == "minLength")
        return "must not be shorter than " + num("minLength") + " characters";
    if (keyword == "maxLength")
        return "must not be longer than " + num("maxLength") + " characters";
    if (keyword == "enum") return found + " is not one of: " + join_schema_list(member("enum"));
    if (keyword == "pattern") return found + " does not match the pattern " + num("pattern");
    if (keyword == "minItems") return "needs at least " + num("minItems") + " items";
    if (keyword == "maxItems") return "allows at most " + num("maxItems") + " items";
    if (keyword == "uniqueItems") return "items must be unique";
    return "violates the schema keyword '" + keyword + "'";
}

// Copies the value at the same path in the bundled default (array indices that don't
// exist there fall back to 0), so validation can continue past a problem.
rapidjson::Value const* default_at(rapidjson::Document const& defaults, rj_pointer const& path) {
    if (auto const* v = path.Get(defaults)) return v;
    rapidjson::Value const* node = &defaults;
    for (std::size_t i = 0; i < path.GetTokenCount(); ++i) {
        auto const& tok = path.GetTokens()[i];
        if (node->IsObject()) {
            auto it = node->FindMember(rapidjson::Value(tok.name, tok.length));
            if (it == node->MemberEnd()) return nullptr;
            node = &it->value;
        } else if (node->IsArray()) {
            if (node->Empty()) return nullptr;
            node = &(*node)[0];
        } else {
            return nullptr;
        }
    }
    return node;
}

// One validation failure: where in the document, and the schema keyword that failed there.
struct schema_failure {
    rj_pointer doc_ptr;
    std::string keyword;
    rapidjson::Value const* schema_node = nullptr;
    rapidjson::Value* doc_node = nullptr;
    std::string path;  // doc_ptr as text
    std::string last;  // doc_ptr's last token
};

// Validates, and repairs the document after each failure so that the next run finds the next
// problem.
class schema_repair {
public:
    schema_repair(rapidjson::Document& doc, std::vector<rule_set_problem>& problems)
        : doc_(doc), problems_(problems) {
        schema_doc_.Parse(rule_set_schema_json().data(), rule_set_schema_json().size());
        if (schema_doc_.HasParseError())
            throw std::logic_error("embedded rule-set schema is not valid JSON");
        defaults_.Parse(bundled_rule_set_json().data(), bundled_rule_set_json().size());
    }

    void run() {
        rapidjson::SchemaDocument const schema(schema_doc_);
        for (int round = 0; round < 500; ++round) {
            rapidjson::SchemaValidator validator(schema);
            if (doc_.Accept(validator)) return;
            schema_failure const failure = describe(validator);
            bool const repaired = failure.keyword == "required" && failure.doc_node &&
                                          failure.doc_node->IsObject() && failure.schema_node
                                      ? add_missing_members(failure)
                                      : replace_invalid_member(failure);
            if (!repaired) return;
        }
        problems_.push_back({"/", "too many problems; stopped"});
    }

private:
    schema_failure describe(rapidjson::SchemaValidator const& validator) {
        schema_failure f;
        f.doc_ptr = validator.GetInvalidDocumentPointer();
        f.keyword = validator.GetInvalidSchemaKeyword();
        f.schema_node = validator.GetInvalidSchemaPointer().Get(schema_doc_);
        f.doc_node = f.doc_ptr.Get(doc_);
        f.path = pointer_text(f.doc_ptr);
        if (std::size_t const n = f.doc_ptr.GetTokenCount()) {
            f.last.assign(f.doc_ptr.GetTokens()[n - 1].name, f.doc_ptr.GetTokens()[n - 1].length);
        }
        return f;
    }

    // "required": reports each missing member once and adds the bundled default's.
    bool add_missing_members(schema_failure const& f) {
        auto const req = f.schema_node->FindMember("required");
        bool fixed_any = false;
        if (req != f.schema_node->MemberEnd() && req->value.IsArray()) {
            for (auto const& name : req->value.GetArray()) {
                if (f.doc_node->HasMember(name.GetString())) continue;
                std::string const member_path =
                    (f.path == "/" ? std::string() : f.path) + "/" + name.GetString();
                if (!repaired_.contains(member_path)) {
                    problems_.push_back({member_path, std::string("missing required member '") +
                                                          name.GetString() + "'"});
                }
                rj_pointer const member_ptr =
                    f.doc_ptr.Append(name.GetString(), name.GetStringLength());
                if (auto const* def = default_at(defaults_, member_ptr)) {
                    rapidjson::Value copy(*def, doc_.GetAllocator());
                    f.doc_node->AddMember(rapidjson::Value(name.GetString(), doc_.GetAllocator()),
                                          copy, doc_.GetAllocator());
                    repaired_.insert(member_path);
                    fixed_any = true;
                }
            }
        }
        if (!fixed_any)
            problems_.push_back({f.path, "further problems may be hidden by the one above"});
        return fixed_any;
    }

    // Any other keyword: reports it, then replaces the member by the bundled default's, or
    // removes it (an unknown member, or one the default does not have).
    bool replace_invalid_member(schema_failure const& f) {
        problems_.push_back({f.path, explain(f.keyword, f.schema_node, f.doc_node, f.last)});
        std::size_t const ntok = f.doc_ptr.GetTokenCount();
        if (ntok == 0) return false;  // the document itself is wrong; nothing more to learn
        rj_pointer const parent_ptr(f.doc_ptr.GetTokens(), ntok - 1);
        rapidjson::Value* parent = parent_ptr.Get(doc_);
        if (!parent) return false;
        rapidjson::Value const* def =
            f.keyword == "additionalProperties" ? nullptr : default_at(defaults_, f.doc_ptr);
        repaired_.insert(f.path);
        if (def && f.doc_node) {
            f.doc_node->CopyFrom(*def, doc_.GetAllocator());
        } else if (parent->IsObject()) {
            parent->RemoveMember(rapidjson::Value(f.last.c_str(), doc_.GetAllocator()));
        } else if (parent->IsArray() && f.doc_node) {
            parent->Erase(f.doc_node);
        } else {
            return false;
        }
        return true;
    }

    rapidjson::Document& doc_;
    std::vector<rule_set_problem>& problems_;
    rapidjson::Document schema_doc_;
    rapidjson::Document defaults_;
    std::set<std::string> repaired_;
};

}  // namespace

void validate_against_schema(rapidjson::Document& doc, std::vector<rule_set_problem>& problems) {
    schema_repair(doc, problems).run();
}

}  // namespace cds::rules
