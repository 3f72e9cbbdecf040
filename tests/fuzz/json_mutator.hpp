#pragma once
// A structure-aware libFuzzer mutator for the JSON harnesses. Byte-level mutation of a
// 10 KB CDS Hooks request almost always breaks the JSON, so the rules and the protocol
// checks behind the parser would rarely be reached; this mutator parses the input, changes
// one value of the tree (a number to a boundary, a string to a date/unit/code/reference, a
// value to another JSON kind, an array element duplicated or dropped, a member dropped or a
// subtree copied elsewhere) and serializes it again. One mutation in four stays byte-level
// (LLVMFuzzerMutate) so the parser itself keeps being fuzzed.
//
// Only the libFuzzer binaries define CDS_LIBFUZZER (tests/fuzz/CMakeLists.txt); the
// regression replay has no LLVMFuzzerMutate and does not need the mutator.

#ifdef CDS_LIBFUZZER

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace cds::fuzz {

inline void collect_values(boost::json::value& v,
                           std::vector<boost::json::value*>& out,
                           int depth = 0) {
    out.push_back(&v);
    if (depth > 60) return;
    if (auto* o = v.if_object()) {
        for (auto& member : *o) collect_values(member.value(), out, depth + 1);
    } else if (auto* a = v.if_array()) {
        for (auto& e : *a) collect_values(e, out, depth + 1);
    }
}

inline boost::json::value interesting_string(std::mt19937& rng) {
    static constexpr std::array<std::string_view, 40> pool{
        "2026-03-10T09:00:00Z",
        "2026-03-10",
        "2026-03",
        "2026",
        "2026-03-03T09:00:00Z",
        "2026-03-03",
        "2025-03-10",
        "2026-03-10T08:59:59.999+00:00",
        "2026-03-11T09:00:00+14:00",
        "1900-01-01",
        "2008-03-10",
        "2026-03-10T09:00:00",
        "mg/dL",
        "mmol/L",
        "mEq/L",
        "mg/L",
        "umol/L",
        "kg",
        "mL/min",
        "mL/min/{1.73_m2}",
        "19123-9",
        "2601-3",
        "2160-0",
        "98979-8",
        "29463-7",
        "http://loinc.org",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://unitsofmeasure.org",
        "final",
        "active",
        "entered-in-error",
        "order",
        "#med1",
        "Medication/med-1",
        "urn:uuid:00000000-0000-4000-8000-000000000001",
        "Patient/pat-1",
        "female",
        "male",
        "",
        "\xc3\xa9\xe2\x80\x8b"};
    return boost::json::string{pool[rng() % pool.size()]};
}

inline boost::json::value interesting_number(boost::json::value const& current, std::mt19937& rng) {
    double const x = current.is_number() ? current.to_number<double>() : 1.0;
    static constexpr std::array<double, 14> pool{0.0, -1.0, 1.19, 1.2,   1.79,   1.8,    2.5,
                                                 0.5, 4.0,  30.0, 1e308, -1e308, 1e-308, 18.0};
    switch (rng() % 6) {
        case 0:
            return x * 10;
        case 1:
            return x / 10;
        case 2:
            return -x;
        case 3:
            return static_cast<std::int64_t>(rng() % 2000) - 1000;
        case 4:
            return x + 0.01;
        default:
            return pool[rng() % pool.size()];
    }
}

inline boost::json::value other_kind(std::mt19937& rng) {
    switch (rng() % 7) {
        case 0:
            return nullptr;
        case 1:
            return rng() % 2 == 0;
        case 2:
            return boost::json::array{};
        case 3:
            return boost::json::object{};
        case 4:
            return interesting_number(boost::json::value{}, rng);
        case 5:
            return boost::json::array{interesting_string(rng)};
        default:
            return interesting_string(rng);
    }
}

// A byte-level change inside one string keeps the document valid JSON.
inline void mutate_string_bytes(boost::json::value& target, std::mt19937& rng) {
    auto* s = target.if_string();
    if (s == nullptr) {
        target = interesting_string(rng);
        return;
    }
    std::string bytes{s->data(), s->size()};
    bytes.resize(bytes.size() + 8);
    bytes.resize(LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size() - 8,
                                  bytes.size()));
    *s = bytes;
}

// An array element duplicated (same id twice: the dedup paths) or removed; an object member
// removed.
inline void grow_or_shrink(boost::json::value& target, std::mt19937& rng) {
    if (auto* a = target.if_array(); a != nullptr && !a->empty()) {
        auto const i = rng() % a->size();
        if (rng() % 2 == 0) {
            boost::json::value duplicate = (*a)[i];  // copied first: emplace may reallocate
            a->emplace_back(std::move(duplicate));
        } else {
            a->erase(a->begin() + static_cast<std::ptrdiff_t>(i));
        }
    } else if (auto* o = target.if_object(); o != nullptr && !o->empty()) {
        auto it = o->begin() + static_cast<std::ptrdiff_t>(rng() % o->size());
        o->erase(it);
    } else {
        target = other_kind(rng);
    }
}

// A member's value wrapped in an array, or a one-element array unwrapped (FHIR's
// single-object-for-array leniency).
inline void wrap_or_unwrap(boost::json::value& target, std::mt19937& rng) {
    auto* o = target.if_object();
    if (o == nullptr || o->empty()) {
        target = other_kind(rng);
        return;
    }
    auto it = o->begin() + static_cast<std::ptrdiff_t>(rng() % o->size());
    if (auto* a = it->value().if_array(); a != nullptr && a->size() == 1) {
        boost::json::value inner = (*a)[0];
        it->value() = std::move(inner);
    } else {
        boost::json::value inner = it->value();
        it->value() = boost::json::array{std::move(inner)};
    }
}

// Another subtree of the document set as a member the FHIR readers look at.
inline void graft_member(boost::json::value& target,
                         std::vector<boost::json::value*> const& values,
                         std::mt19937& rng) {
    auto* o = target.if_object();
    if (o == nullptr) {
        target = other_kind(rng);
        return;
    }
    boost::json::value copy = *values[rng() % values.size()];
    static constexpr std::array<std::string_view, 12> keys{"valueQuantity",
                                                           "effectiveDateTime",
                                                           "status",
                                                           "code",
                                                           "medicationReference",
                                                           "contained",
                                                           "dosageInstruction",
                                                           "dataAbsentReason",
                                                           "component",
                                                           "resourceType",
                                                           "id",
                                                           "comparator"};
    (*o)[keys[rng() % keys.size()]] = std::move(copy);
}

// One structure-aware change to one value of the document.
inline void mutate_value(boost::json::value& target,
                         std::vector<boost::json::value*> const& values,
                         std::mt19937& rng) {
    switch (rng() % 8) {
        case 0:
            target = other_kind(rng);
            break;
        case 1:
            target = interesting_number(target, rng);
            break;
        case 2:
            target = interesting_string(rng);
            break;
        case 3:
            mutate_string_bytes(target, rng);
            break;
        case 4:
            grow_or_shrink(target, rng);
            break;
        case 5: {
            // Copy another subtree here (crossover within the document).
            boost::json::value copy = *values[rng() % values.size()];
            target = std::move(copy);
            break;
        }
        case 6:
            wrap_or_unwrap(target, rng);
            break;
        default:
            graft_member(target, values, rng);
            break;
    }
}

inline std::size_t mutate_json(std::uint8_t* data,
                               std::size_t size,
                               std::size_t max_size,
                               unsigned seed) {
    std::mt19937 rng(seed);
    if (rng() % 4 == 0 || size == 0) return LLVMFuzzerMutate(data, size, max_size);
    boost::system::error_code ec;
    boost::json::parse_options options;
    options.max_depth = 64;
    auto doc = boost::json::parse(std::string_view{reinterpret_cast<char const*>(data), size}, ec,
                                  {}, options);
    if (ec) return LLVMFuzzerMutate(data, size, max_size);

    std::vector<boost::json::value*> values;
    collect_values(doc, values);
    mutate_value(*values[rng() % values.size()], values, rng);
    std::string const out = boost::json::serialize(doc);
    if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
}

}  // namespace cds::fuzz

#define CDS_FUZZ_JSON_MUTATOR()                                                               \
    extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,      \
                                                   std::size_t max_size, unsigned int seed) { \
        return ::cds::fuzz::mutate_json(data, size, max_size, seed);                          \
    }

#else
#define CDS_FUZZ_JSON_MUTATOR()
#endif
