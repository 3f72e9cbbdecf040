#include "cds/rules/rule_set.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include "cards.hpp"
#include "findings.hpp"
#include "rule_set_data.hpp"

namespace cds::embedded {
extern std::string_view const bundled_rule_set;
extern std::string_view const rule_set_schema;
}  // namespace cds::embedded

namespace cds::rules {

// ---- code_lookup ------------------------------------------------------------------------

void code_lookup::add_to(table& t, std::string_view system_uri, std::string_view code, std::uint64_t bits) {
    auto it = t.find(code);
    if (it == t.end()) it = t.emplace(std::string(code), std::vector<system_bits>{}).first;
    for (auto& e : it->second) {
        if (e.system == system_uri) {
            e.bits |= bits;
            return;
        }
    }
    it->second.push_back({std::string(system_uri), bits});
}

std::uint64_t code_lookup::find_in(table const& t, std::string_view system_uri, std::string_view code) {
    auto it = t.find(code);
    if (it == t.end()) return 0;
    std::uint64_t bits = 0;
    for (auto const& e : it->second) {
        if (e.system == system_uri) bits |= e.bits;
    }
    return bits;
}

void code_lookup::add(std::string_view system_uri, std::string_view code, bool prefix, std::uint64_t bits) {
    if (prefix) {
        add_to(prefixes_, system_uri, code, bits);
        if (std::find(prefix_lengths_.begin(), prefix_lengths_.end(), code.size()) == prefix_lengths_.end()) {
            prefix_lengths_.push_back(code.size());
        }
    } else {
        add_to(exact_, system_uri, code, bits);
    }
}

std::uint64_t code_lookup::match(fhir::coding const& c) const {
    if (c.code.empty() || c.system.empty()) return 0;
    std::string_view const code = c.code;
    std::uint64_t bits = find_in(exact_, c.system, code);
    for (std::size_t len : prefix_lengths_) {
        if (code.size() < len) continue;
        bits |= find_in(prefixes_, c.system, code.substr(0, len));
    }
    return bits;
}

std::uint64_t code_lookup::match_any(fhir::codeable_concept const& cc) const {
    std::uint64_t bits = 0;
    for (auto const& c : cc.codings) bits |= match(c);
    return bits;
}

// ---- value_set -------------------------------------------------------------------------

std::string value_set::lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

void value_set::add_code(std::string_view system_uri, std::string_view code, bool prefix) {
    lookup_.add(system_uri, code, prefix, 1);
    codes_.push_back({std::string(system_uri), std::string(code), prefix});
}

namespace {
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// True when `word` occurs in `text` with no letter or digit directly before or after it.
bool contains_word(std::string_view text, std::string_view word) {
    if (word.empty()) return false;
    for (std::size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
        bool const left_ok = pos == 0 || !is_word_char(text[pos - 1]) || !is_word_char(word.front());
        std::size_t const end = pos + word.size();
        bool const right_ok = end >= text.size() || !is_word_char(text[end]) || !is_word_char(word.back());
        if (left_ok && right_ok) return true;
    }
    return false;
}
}  // namespace

bool value_set::matches_text(std::string_view lowered) const {
    if (lowered.empty()) return false;
    bool const found = std::any_of(text_.begin(), text_.end(), [&](std::string const& w) { return contains_word(lowered, w); });
    if (!found) return false;
    return std::none_of(exclude_.begin(), exclude_.end(), [&](std::string const& w) { return contains_word(lowered, w); });
}

value_set const& rule_set_data::vs(std::string_view name) const {
    auto it = value_sets.find(name);
    if (it == value_sets.end()) throw std::logic_error("value set not loaded: " + std::string(name));
    return it->second;
}

rule_text const& rule_set_data::rule(std::string_view rule_id) const {
    auto it = rule_texts.find(rule_id);
    if (it == rule_texts.end()) throw std::logic_error("rule text not loaded: " + std::string(rule_id));
    return it->second;
}

std::string const& rule_set_data::text(std::string_view key) const {
    auto it = texts.find(key);
    if (it == texts.end()) throw std::logic_error("text not loaded: " + std::string(key));
    return it->second;
}

// ---- rule_set ----------------------------------------------------------------------------

rule_set::rule_set(std::shared_ptr<rule_set_data const> data) : data_(std::move(data)) {
    if (!data_) throw std::invalid_argument("rule_set needs data");
}
std::string const& rule_set::id() const { return data_->id; }
std::string const& rule_set::version() const { return data_->version; }
std::vector<service_definition> const& rule_set::services() const { return data_->services; }
service_definition const* rule_set::find_service(std::string_view service_id) const {
    for (auto const& s : data_->services) {
        if (s.id == service_id) return &s;
    }
    return nullptr;
}

std::string_view bundled_rule_set_json() { return cds::embedded::bundled_rule_set; }
std::string_view rule_set_schema_json() { return cds::embedded::rule_set_schema; }

// ---- schema validation -----------------------------------------------------------------

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
        case rapidjson::kNullType: return "null";
        case rapidjson::kFalseType:
        case rapidjson::kTrueType: return "boolean";
        case rapidjson::kObjectType: return "object";
        case rapidjson::kArrayType: return "array";
        case rapidjson::kStringType: return "string";
        case rapidjson::kNumberType: return v.IsInt64() || v.IsUint64() ? "integer" : "number";
    }
    return "value";
}

std::string value_text(rapidjson::Value const& v) {
    if (v.IsString()) return std::string("\"") + v.GetString() + "\"";
    if (v.IsNumber()) {
        boost::json::value bv = v.IsInt64() ? boost::json::value(v.GetInt64())
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
std::string explain(std::string const& keyword, rapidjson::Value const* schema_node, rapidjson::Value const* doc_node,
                    std::string const& last_token) {
    auto member = [&](char const* name) -> rapidjson::Value const* {
        if (!schema_node || !schema_node->IsObject()) return nullptr;
        auto it = schema_node->FindMember(name);
        return it == schema_node->MemberEnd() ? nullptr : &it->value;
    };
    auto num = [&](char const* name) { auto const* v = member(name); return v ? value_text(*v) : std::string("?"); };
    std::string const found = doc_node ? value_text(*doc_node) : std::string("value");
    if (keyword == "additionalProperties") return "unknown member '" + last_token + "' (not allowed here)";
    if (keyword == "type") {
        auto const* t = member("type");
        std::string expected = t ? (t->IsString() ? std::string(t->GetString()) : join_schema_list(t)) : "?";
        return "expected " + expected + ", found " + (doc_node ? type_name(*doc_node) : "value");
    }
    if (keyword == "minimum") {
        auto const* ex = member("exclusiveMinimum");
        bool const exclusive = ex && ex->IsBool() && ex->GetBool();
        return found + " must be " + (exclusive ? "greater than " : "at least ") + num("minimum");
    }
    if (keyword == "maximum") return found + " must be at most " + num("maximum");
    if (keyword == "minLength") return "must not be shorter than " + num("minLength") + " characters";
    if (keyword == "maxLength") return "must not be longer than " + num("maxLength") + " characters";
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

// Validates with RapidJSON's SchemaValidator. RapidJSON stops at the first error, so each
// problem is recorded, the offending member repaired (unknown members removed, others
// replaced by the bundled default) and the document validated again, until it passes.
void validate_against_schema(rapidjson::Document& doc, std::vector<rule_set_problem>& problems) {
    rapidjson::Document schema_doc;
    schema_doc.Parse(rule_set_schema_json().data(), rule_set_schema_json().size());
    if (schema_doc.HasParseError()) throw std::logic_error("embedded rule-set schema is not valid JSON");
    rapidjson::SchemaDocument schema(schema_doc);
    rapidjson::Document defaults;
    defaults.Parse(bundled_rule_set_json().data(), bundled_rule_set_json().size());

    std::set<std::string> repaired;
    for (int round = 0; round < 500; ++round) {
        rapidjson::SchemaValidator validator(schema);
        if (doc.Accept(validator)) return;
        rj_pointer const doc_ptr = validator.GetInvalidDocumentPointer();
        rj_pointer const schema_ptr = validator.GetInvalidSchemaPointer();
        std::string const keyword = validator.GetInvalidSchemaKeyword();
        rapidjson::Value const* schema_node = schema_ptr.Get(schema_doc);
        rapidjson::Value* doc_node = doc_ptr.Get(doc);
        std::string const path = pointer_text(doc_ptr);
        std::size_t const ntok = doc_ptr.GetTokenCount();
        std::string const last = ntok ? std::string(doc_ptr.GetTokens()[ntok - 1].name, doc_ptr.GetTokens()[ntok - 1].length) : "";

        if (keyword == "required" && doc_node && doc_node->IsObject() && schema_node) {
            auto req = schema_node->FindMember("required");
            bool fixed_any = false;
            if (req != schema_node->MemberEnd() && req->value.IsArray()) {
                for (auto const& name : req->value.GetArray()) {
                    if (doc_node->HasMember(name.GetString())) continue;
                    std::string const member_path = (path == "/" ? std::string() : path) + "/" + name.GetString();
                    if (!repaired.contains(member_path)) {
                        problems.push_back({member_path, std::string("missing required member '") + name.GetString() + "'"});
                    }
                    rj_pointer const member_ptr = doc_ptr.Append(name.GetString(), name.GetStringLength());
                    if (auto const* def = default_at(defaults, member_ptr)) {
                        rapidjson::Value copy(*def, doc.GetAllocator());
                        doc_node->AddMember(rapidjson::Value(name.GetString(), doc.GetAllocator()), copy, doc.GetAllocator());
                        repaired.insert(member_path);
                        fixed_any = true;
                    }
                }
            }
            if (!fixed_any) {
                problems.push_back({path, "further problems may be hidden by the one above"});
                return;
            }
            continue;
        }

        problems.push_back({path, explain(keyword, schema_node, doc_node, last)});
        if (ntok == 0) return;  // the document itself is wrong; nothing more to learn
        rj_pointer const parent_ptr(doc_ptr.GetTokens(), ntok - 1);
        rapidjson::Value* parent = parent_ptr.Get(doc);
        if (!parent) return;
        rapidjson::Value const* def = keyword == "additionalProperties" ? nullptr : default_at(defaults, doc_ptr);
        repaired.insert(path);
        if (def && doc_node) {
            doc_node->CopyFrom(*def, doc.GetAllocator());
        } else if (parent->IsObject()) {
            parent->RemoveMember(rapidjson::Value(last.c_str(), doc.GetAllocator()));
        } else if (parent->IsArray() && doc_node) {
            parent->Erase(doc_node);
        } else {
            return;
        }
    }
    problems.push_back({"/", "too many problems; stopped"});
}

// ---- typed extraction (after the schema passed) ---------------------------------------

namespace bj = boost::json;

std::string str(bj::object const& o, char const* key) {
    auto const* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
double num(bj::object const& o, char const* key) {
    auto const& v = o.at(key);
    return v.is_double() ? v.get_double() : v.is_int64() ? static_cast<double>(v.get_int64()) : static_cast<double>(v.get_uint64());
}
bj::object const& obj(bj::object const& o, char const* key) { return o.at(key).as_object(); }

coding_config to_coding(bj::object const& o) {
    coding_config c;
    c.system = str(o, "system");
    c.code = str(o, "code");
    c.display = str(o, "display");
    return c;
}
concept_config to_concept(bj::object const& o) {
    concept_config c;
    c.text = str(o, "text");
    for (auto const& e : o.at("coding").as_array()) c.coding.push_back(to_coding(e.as_object()));
    return c;
}
std::unordered_set<std::string> to_set(bj::value const& v) {
    std::unordered_set<std::string> out;
    for (auto const& e : v.as_array()) out.emplace(e.as_string());
    return out;
}

void load_units(bj::object const& units, char const* key, fhir::unit_table& out, std::vector<rule_set_problem>& problems) {
    std::vector<fhir::unit_factor> factors;
    std::set<std::string> seen;
    std::size_t i = 0;
    for (auto const& e : units.at(key).as_array()) {
        auto const& o = e.as_object();
        fhir::unit_factor f{str(o, "unit"), num(o, "factor")};
        if (!seen.insert(value_set::lower(f.unit)).second) {
            problems.push_back({"/units/" + std::string(key) + "/" + std::to_string(i) + "/unit",
                                "unit '" + f.unit + "' is listed twice (units compare case-insensitively)"});
        }
        factors.push_back(std::move(f));
        ++i;
    }
    out = fhir::unit_table(std::move(factors));
}

// Placeholders a template may use; anything else is a typo the loader reports.
bool placeholders_known(std::string const& tpl, std::set<std::string> const& allowed, std::string& unknown) {
    for (std::size_t open = tpl.find('{'); open != std::string::npos; open = tpl.find('{', open + 1)) {
        std::size_t const close = tpl.find('}', open);
        if (close == std::string::npos) { unknown = tpl.substr(open); return false; }
        std::string const name = tpl.substr(open + 1, close - open - 1);
        if (!allowed.contains(name)) { unknown = name; return false; }
    }
    return true;
}

void extract(bj::object const& root, rule_set_data& d, std::vector<rule_set_problem>& problems) {
    d.id = str(root, "id");
    d.version = str(root, "version");
    d.title = str(root, "title");
    auto const& source = obj(root, "source");
    d.source_label = str(source, "label");
    d.source_url = str(source, "url");
    d.topic_system = str(source, "topic_system");

    std::map<std::string, std::vector<std::string>> systems;
    for (auto const& [alias, uris] : obj(root, "code_systems")) {
        for (auto const& u : uris.as_array()) systems[std::string(alias)].emplace_back(u.as_string());
    }

    std::set<std::string> service_ids;
    std::size_t si = 0;
    for (auto const& sv : root.at("services").as_array()) {
        auto const& so = sv.as_object();
        service_definition s{str(so, "id"), str(so, "hook"), str(so, "title"), str(so, "description"), {}};
        std::string const spath = "/services/" + std::to_string(si);
        if (!service_ids.insert(s.id).second) problems.push_back({spath + "/id", "service id '" + s.id + "' is used twice"});
        std::set<std::string> keys;
        std::size_t pi = 0;
        for (auto const& pv : so.at("prefetch").as_array()) {
            auto const& po = pv.as_object();
            prefetch_template t{str(po, "key"), str(po, "query"), po.at("required").as_bool(), str(po, "describes")};
            if (!keys.insert(t.key).second) {
                problems.push_back({spath + "/prefetch/" + std::to_string(pi) + "/key", "prefetch key '" + t.key + "' is used twice"});
            }
            if (t.query.find("{{context.patientId}}") == std::string::npos && t.query.find("{{context.") == std::string::npos) {
                problems.push_back({spath + "/prefetch/" + std::to_string(pi) + "/query", "the query has no {{context...}} token, so it would not be limited to the patient"});
            }
            s.prefetch.push_back(std::move(t));
            ++pi;
        }
        d.services.push_back(std::move(s));
        ++si;
    }

    auto const& st = obj(root, "statuses");
    d.observation_counted = to_set(st.at("observation_counted"));
    d.observation_preliminary = to_set(st.at("observation_preliminary"));
    d.medication_counted = to_set(st.at("medication_counted"));
    d.medication_never = to_set(st.at("medication_never"));
    d.condition_active = to_set(st.at("condition_active"));
    d.condition_verification_excluded = to_set(st.at("condition_verification_excluded"));

    auto const& th = obj(root, "thresholds");
    auto const& mg = obj(th, "magnesium");
    d.mg_severe_below = num(mg, "severe_below_mg_dl");
    d.mg_low_below = num(mg, "low_below_mg_dl");
    d.mg_high_above = num(mg, "high_above_mg_dl");
    if (!(d.mg_severe_below < d.mg_low_below)) {
        problems.push_back({"/thresholds/magnesium/low_below_mg_dl", "must be greater than severe_below_mg_dl (severe < low < high)"});
    }
    if (!(d.mg_low_below < d.mg_high_above)) {
        problems.push_back({"/thresholds/magnesium/high_above_mg_dl", "must be greater than low_below_mg_dl (severe < low < high)"});
    }
    d.potassium_low_below = num(th, "potassium_low_below_mmol_l");
    d.calcium_total_low_below = num(th, "calcium_total_low_below_mg_dl");
    d.calcium_ionized_low_below = num(th, "calcium_ionized_low_below_mmol_l");
    d.qtc_symptomatic_ms = num(th, "qtc_symptomatic_at_or_above_ms");
    d.iv_rate_max_mg_per_min = num(th, "iv_rate_max_mg_per_min");
    d.adult_age_years = static_cast<int>(num(th, "adult_age_years"));
    d.continuous_mgso4_max_days = num(th, "continuous_magnesium_sulfate_max_days");
    d.bolus_max_minutes = num(th, "magnesium_sulfate_bolus_max_minutes");

    auto const& w = obj(root, "windows");
    d.mg_current_hours = num(w, "magnesium_current_hours");
    d.mg_stale_low_days = num(w, "magnesium_stale_low_days");
    d.mg_monitoring_days = num(w, "magnesium_monitoring_days");
    d.mg_monitoring_high_risk_days = num(w, "magnesium_monitoring_high_risk_days");
    d.mg_before_repletion_days = num(w, "magnesium_before_repletion_days");
    d.coexisting_current_hours = num(w, "coexisting_current_hours");
    d.qtc_current_hours = num(w, "qtc_current_hours");
    d.renal_current_days = num(w, "renal_current_days");
    d.renal_max_age_days = num(w, "renal_max_age_days");
    d.weight_max_age_days = num(w, "weight_max_age_days");
    d.symptom_onset_days = num(w, "symptom_onset_days");
    d.acute_asthma_onset_days = num(w, "acute_asthma_onset_days");
    d.pregnancy_status_days = num(w, "pregnancy_status_days");
    if (d.mg_stale_low_days * 24 <= d.mg_current_hours) {
        problems.push_back({"/windows/magnesium_stale_low_days", "must be longer than magnesium_current_hours"});
    }
    if (d.renal_current_days > d.renal_max_age_days) {
        problems.push_back({"/windows/renal_current_days", "must not be longer than renal_max_age_days"});
    }

    auto const& units = obj(root, "units");
    load_units(units, "magnesium_mg_dl", d.magnesium_mg_dl, problems);
    load_units(units, "creatinine_mg_dl", d.creatinine_mg_dl, problems);
    load_units(units, "calcium_total_mg_dl", d.calcium_total_mg_dl, problems);
    load_units(units, "calcium_ionized_mmol_l", d.calcium_ionized_mmol_l, problems);
    load_units(units, "potassium_mmol_l", d.potassium_mmol_l, problems);
    load_units(units, "weight_kg", d.weight_kg, problems);
    load_units(units, "qtc_ms", d.qtc_ms, problems);
    load_units(units, "renal_ml_min", d.renal_ml_min, problems);
    load_units(units, "dose_mg", d.dose_mg, problems);
    load_units(units, "duration_min", d.duration_min, problems);
    load_units(units, "rate_mg_per_min", d.rate_mg_per_min, problems);
    load_units(units, "time_days", d.time_days, problems);

    auto const& renal = obj(root, "renal");
    static constexpr std::array<char const*, 4> band_ids{"normal", "impaired", "severely_impaired", "contraindicated"};
    std::size_t bi = 0;
    for (auto const& bv : renal.at("bands").as_array()) {
        auto const& bo = bv.as_object();
        std::string const bpath = "/renal/bands/" + std::to_string(bi);
        if (bi < 4) {
            if (str(bo, "id") != band_ids[bi]) {
                problems.push_back({bpath + "/id", std::string("band ") + std::to_string(bi) + " must be '" + band_ids[bi] + "' (bands run from normal down to contraindicated)"});
            }
            d.band_min[bi] = num(bo, "min_ml_min");
            d.band_label[bi] = str(bo, "label");
            if (bi > 0 && !(d.band_min[bi] < d.band_min[bi - 1])) {
                problems.push_back({bpath + "/min_ml_min", "band edges must descend (normal > impaired > severely impaired > contraindicated)"});
            }
        }
        ++bi;
    }
    d.band_label[4] = str(renal, "unknown_label");
    auto const& cg = obj(renal, "cockcroft_gault");
    d.cg_age_offset = num(cg, "age_offset_years");
    d.cg_denominator = num(cg, "denominator");
    d.cg_female_factor = num(cg, "female_factor");
    d.cg_unknown_sex_factor = num(cg, "unknown_sex_factor");
    d.renal_scale_note = str(renal, "scale_note");

    auto const& doses = obj(root, "doses");
    auto const& iv = obj(doses, "intravenous");
    d.iv_medication = to_concept(obj(iv, "medication"));
    d.iv_dose_g = num(iv, "dose_g");
    d.iv_reduced_dose_g = num(iv, "reduced_dose_g");
    d.iv_infusion_minutes = num(iv, "infusion_minutes");
    d.iv_recheck_hours = num(iv, "recheck_hours");
    d.iv_route = to_coding(obj(iv, "route"));
    if (d.iv_reduced_dose_g > d.iv_dose_g) problems.push_back({"/doses/intravenous/reduced_dose_g", "must not exceed dose_g"});
    if (d.iv_dose_g * 1000 / d.iv_infusion_minutes > d.iv_rate_max_mg_per_min) {
        problems.push_back({"/doses/intravenous/infusion_minutes", "the suggested IV dose would run faster than thresholds/iv_rate_max_mg_per_min"});
    }
    auto const& oral = obj(doses, "oral");
    d.oral_medication = to_concept(obj(oral, "medication"));
    d.oral_dose_mg = num(oral, "dose_mg");
    d.oral_reduced_dose_mg = num(oral, "reduced_dose_mg");
    d.oral_dose_note = str(oral, "dose_note");
    d.oral_reduced_dose_note = str(oral, "reduced_dose_note");
    d.oral_route = to_coding(obj(oral, "route"));
    d.oral_timing_when = str(oral, "timing_when");
    d.oral_timing_text = str(oral, "timing_text");
    if (d.oral_reduced_dose_mg > d.oral_dose_mg) problems.push_back({"/doses/oral/reduced_dose_mg", "must not exceed dose_mg"});
    auto const& rd = obj(oral, "recheck_days");
    d.oral_recheck_days[0] = num(rd, "normal");
    d.oral_recheck_days[1] = num(rd, "impaired");
    d.oral_recheck_days[2] = num(rd, "severely_impaired");
    d.oral_recheck_days[3] = rd.contains("contraindicated") ? num(rd, "contraindicated") : num(rd, "severely_impaired");
    d.oral_recheck_days[4] = num(rd, "unknown");
    auto const& alt = obj(doses, "oral_alternative");
    d.alt_medication = to_concept(obj(alt, "medication"));
    d.alt_dose_mg = num(alt, "dose_mg");
    d.alt_reduced_dose_mg = num(alt, "reduced_dose_mg");
    d.alt_dose_note = str(alt, "dose_note");
    d.alt_route = to_coding(obj(alt, "route"));
    d.alt_timing_when = str(alt, "timing_when");
    d.alt_timing_text = str(alt, "timing_text");
    if (d.alt_reduced_dose_mg > d.alt_dose_mg) problems.push_back({"/doses/oral_alternative/reduced_dose_mg", "must not exceed dose_mg"});
    auto const& fam = obj(doses, "famotidine");
    d.famotidine_medication = to_concept(obj(fam, "medication"));
    d.famotidine_route = to_coding(obj(fam, "route"));
    auto const& fb = obj(fam, "by_renal_band");
    static constexpr std::array<char const*, 5> all_bands{"normal", "impaired", "severely_impaired", "contraindicated", "unknown"};
    for (std::size_t i = 0; i < all_bands.size(); ++i) {
        auto const& o = obj(fb, all_bands[i]);
        d.famotidine_by_band[i] = {num(o, "dose_mg"), static_cast<int>(num(o, "times_per_day"))};
    }
    d.magnesium_level_code = to_concept(obj(obj(doses, "magnesium_level"), "code"));
    d.creatinine_level_code = to_concept(obj(obj(doses, "creatinine_level"), "code"));
    d.repletion_reason = to_concept(obj(doses, "repletion_reason"));

    for (auto const& [name, vv] : obj(root, "value_sets")) {
        auto const& vo = vv.as_object();
        value_set set;
        std::size_t ci = 0;
        for (auto const& cv : vo.at("codes").as_array()) {
            auto const& co = cv.as_object();
            std::string const alias = str(co, "system");
            bool const prefix = str(co, "match") == "prefix";
            auto it = systems.find(alias);
            if (it == systems.end()) {
                problems.push_back({"/value_sets/" + std::string(name) + "/codes/" + std::to_string(ci) + "/system",
                                    "unknown code system alias '" + alias + "' (see /code_systems)"});
            } else {
                for (auto const& uri : it->second) set.add_code(uri, str(co, "code"), prefix);
            }
            ++ci;
        }
        if (auto const* t = vo.if_contains("text")) for (auto const& e : t->as_array()) set.add_text(e.as_string());
        if (auto const* t = vo.if_contains("exclude_text")) for (auto const& e : t->as_array()) set.add_exclude(e.as_string());
        d.value_sets.emplace(std::string(name), std::move(set));
    }
    compile_lookups(d);

    std::set<std::string> const summary_placeholders{"mg", "severity", "action", "age", "drug", "window", "renal", "rate", "max", "days"};
    for (auto const& [rid, rv] : obj(root, "rules")) {
        auto const& ro = rv.as_object();
        rule_text t;
        t.title = str(ro, "title");
        t.summary = str(ro, "summary");
        if (auto const* e = ro.if_contains("enabled")) t.enabled = e->as_bool();
        std::string unknown;
        if (!placeholders_known(t.summary, summary_placeholders, unknown)) {
            problems.push_back({"/rules/" + std::string(rid) + "/summary", "unknown placeholder {" + unknown + "}"});
        }
        d.rule_texts.emplace(std::string(rid), std::move(t));
    }

    std::set<std::string> const text_placeholders{"describes", "key", "factor", "age", "threshold", "total", "ionized", "card", "findings",
                                                  "days", "max", "dose", "halved", "drug", "when"};
    for (auto const& [key, tv] : obj(root, "texts")) {
        if (tv.is_object()) {
            for (auto const& [sub, sv] : tv.as_object()) {
                d.texts.emplace(std::string(key) + "." + std::string(sub), std::string(sv.as_string()));
            }
        } else {
            std::string const t(tv.as_string());
            std::string unknown;
            if (!placeholders_known(t, text_placeholders, unknown)) {
                problems.push_back({"/texts/" + std::string(key), "unknown placeholder {" + unknown + "}"});
            }
            d.texts.emplace(std::string(key), t);
        }
    }

    std::set<std::string> reason_codes;
    std::size_t oi = 0;
    for (auto const& rv : root.at("override_reasons").as_array()) {
        auto c = to_coding(rv.as_object());
        if (!reason_codes.insert(c.code).second) {
            problems.push_back({"/override_reasons/" + std::to_string(oi) + "/code", "override reason '" + c.code + "' is listed twice"});
        }
        d.override_reasons.push_back(std::move(c));
        ++oi;
    }
    prebuild_card_json(d);
}

}  // namespace

rule_set_load_result load_rule_set(std::string_view json_text) {
    rule_set_load_result result;
    rapidjson::Document doc;
    doc.Parse(json_text.data(), json_text.size());
    if (doc.HasParseError()) {
        result.problems.push_back({"/", std::string("not valid JSON at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
                                            rapidjson::GetParseError_En(doc.GetParseError())});
        return result;
    }
    validate_against_schema(doc, result.problems);
    if (!result.problems.empty()) return result;

    boost::system::error_code ec;
    bj::value root = bj::parse(json_text, ec);
    if (ec || !root.is_object()) {
        result.problems.push_back({"/", "not valid JSON: " + ec.message()});
        return result;
    }
    auto data = std::make_shared<rule_set_data>();
    try {
        extract(root.as_object(), *data, result.problems);
    } catch (std::exception const& e) {
        // The schema should make this unreachable; report rather than crash at start-up.
        result.problems.push_back({"/", std::string("rule file could not be read: ") + e.what()});
    }
    if (!result.problems.empty()) return result;
    result.rules = std::make_shared<rule_set const>(std::move(data));
    return result;
}

}  // namespace cds::rules
