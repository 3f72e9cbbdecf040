// The tape (json_tape.hpp): its layout, its look-ups, the facts it reports for the request's
// limits, and typed reading from it against reading the same JSON as a Boost.JSON tree.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/snapshot.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace cds::fhir;
using cds::fhir::test::json;

namespace {

// Replays a tree as the parser's events would come (a tree has no repeated members).
void feed(boost::json::value const& v, tape_builder& tape) {
    switch (v.kind()) {
        case boost::json::kind::object:
            tape.begin_object();
            for (auto const& member : v.get_object()) {
                tape.key({member.key().data(), member.key().size()});
                feed(member.value(), tape);
            }
            tape.end_object();
            break;
        case boost::json::kind::array:
            tape.begin_array();
            for (auto const& element : v.get_array()) feed(element, tape);
            tape.end_array();
            break;
        case boost::json::kind::string:
            tape.string({v.get_string().data(), v.get_string().size()});
            break;
        case boost::json::kind::int64:
            tape.int64(v.get_int64());
            break;
        case boost::json::kind::uint64:
            tape.uint64(v.get_uint64());
            break;
        case boost::json::kind::double_:
            tape.real(v.get_double());
            break;
        case boost::json::kind::bool_:
            tape.boolean(v.get_bool());
            break;
        case boost::json::kind::null:
            tape.null();
            break;
    }
}

std::vector<std::string> member_names(tape_node const& object) {
    std::vector<std::string> names;
    for (auto const member : members(object)) names.emplace_back(member.key());
    return names;
}

}  // namespace

TEST_CASE("a tape keeps members and elements in document order and skips subtrees whole") {
    auto const tree =
        json(R"({"a":{"x":[1,2,{"y":null}]},"b":"text","c":[],"d":18446744073709551615,)"
             R"("e":-3,"f":1.5,"g":true})");
    tape_builder tape;
    feed(tree, tape);
    REQUIRE(tape.complete());
    auto const& root = tape.root();
    CHECK(root.is_object());
    CHECK(root.size() == 7);
    CHECK(member_names(root) == std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g"});

    auto const* a = root.if_contains("a");
    REQUIRE(a != nullptr);
    auto const* x = a->if_contains("x");
    REQUIRE(x != nullptr);
    REQUIRE(x->if_array() != nullptr);
    CHECK(x->size() == 3);
    CHECK(x->span() == 6);  // the array, 1, 2, the object, its key, null
    std::vector<boost::json::kind> kinds;
    for (auto const& element : elements(*x)) kinds.push_back(element.kind());
    CHECK(kinds == std::vector<boost::json::kind>{boost::json::kind::int64,
                                                  boost::json::kind::int64,
                                                  boost::json::kind::object});

    CHECK(root.if_contains("b")->get_string() == "text");
    CHECK(root.if_contains("c")->size() == 0);
    CHECK(*root.if_contains("d")->if_uint64() == 18446744073709551615ULL);
    CHECK(*root.if_contains("e")->if_int64() == -3);
    CHECK(*root.if_contains("f")->if_double() == 1.5);
    CHECK(*root.if_contains("g")->if_bool());
    CHECK(root.if_contains("h") == nullptr);
    CHECK(root.if_contains("b")->if_object() == nullptr);
    CHECK_FALSE(tape.has_repeated_member());
}

TEST_CASE("a tape reports a repeated member, and a look-up finds the last, as a tree keeps it") {
    tape_builder tape;
    tape.begin_object();
    tape.key("value");
    tape.int64(1);
    tape.key("other");
    tape.null();
    tape.key("value");
    tape.int64(2);
    tape.end_object();
    REQUIRE(tape.complete());
    CHECK(tape.has_repeated_member());
    CHECK(*tape.root().if_contains("value")->if_int64() == 2);

    // Names alike in length and first, middle and last bytes are still told apart.
    tape.clear();
    tape.begin_object();
    tape.key("abXcd");
    tape.null();
    tape.key("abXzd");
    tape.null();
    tape.end_object();
    CHECK_FALSE(tape.has_repeated_member());

    // A large object is checked too.
    tape.clear();
    tape.begin_object();
    std::vector<std::string> names;
    for (int i = 0; i < 100; ++i) names.push_back("member" + std::to_string(i % 99));
    for (auto const& name : names) {
        tape.key(name);
        tape.null();
    }
    tape.end_object();
    CHECK(tape.has_repeated_member());
}

TEST_CASE("a tape counts the objects whose last resourceType is a string") {
    tape_builder tape;
    feed(json(R"({"resource":{"resourceType":"Observation","contained":[)"
              R"({"resourceType":"Medication"},{"resourceType":7},{"id":"x"}]}})"),
         tape);
    CHECK(tape.resource_count() == 2);

    tape.clear();
    tape.begin_object();
    tape.key("resourceType");
    tape.string("Patient");
    tape.key("resourceType");
    tape.int64(1);
    tape.end_object();
    CHECK(tape.resource_count() == 0);  // the last one is not a string
}

TEST_CASE("every published FHIR example reads the same from a tape as from a tree") {
    auto const dir = fs::path(CDS_FIXTURES_DIR) / "fhir-examples";
    REQUIRE(fs::is_directory(dir));
    std::size_t compared = 0;
    for (auto const& file : fs::directory_iterator(dir)) {
        if (file.path().extension() != ".json") continue;
        CAPTURE(file.path().string());
        auto const tree = cds::fhir::test::read_json_file(file.path().string());
        // As one entry of a searchset at prefetch.data, both ways.
        boost::json::object entry;
        entry["fullUrl"] = "urn:uuid:5f1e8c52-7d0e-4a8e-9a53-0f6b3d1c2a11";
        entry["resource"] = tree;
        boost::json::value const entry_value(entry);
        tape_builder tape;
        feed(entry_value, tape);
        snapshot_builder from_tree;
        snapshot_builder from_tape;
        CHECK(from_tree.add_bundle_entry(entry_value, "prefetch.data", 3) ==
              from_tape.add_bundle_entry(tape.root(), "prefetch.data", 3));
        auto const a = std::move(from_tree).build();
        auto const b = std::move(from_tape).build();
        CHECK(a == b);
        ++compared;
    }
    CHECK(compared > 20);
}

TEST_CASE("a look-up takes the member of exactly its name, not one of the same length") {
    // Before each member the readers use stands a decoy of the same length that shares its
    // first bytes (and, from four bytes on, its first word): a look-up that compared only
    // part of a name would read the decoy. Lengths 2, 4, 6, 7, 13 and 17 cover each way
    // names are compared.
    auto const entry = json(R"({"resource":{"resourceType":"Observation",
        "ix":"decoy-id","id":"obs-1",
        "statux":"cancelled","status":"final",
        "codf":{"text":"decoy"},"code":{"coding":[{"systen":"decoy","system":"http://loinc.org",
            "codd":"0000-0","code":"19123-9"}]},
        "subjecx":{"reference":"Patient/decoy"},"subject":{"reference":"Patient/p1"},
        "effectiveDateTimx":"1999-01-01","effectiveDateTime":"2026-03-09T08:00:00Z",
        "valueQuantitx":{"value":9.9},"valueQuantity":{"value":0.6,"unit":"mmol/L"}}})");
    tape_builder tape;
    feed(entry, tape);
    for (bool from_tape : {false, true}) {
        CAPTURE(from_tape);
        snapshot_builder builder;
        if (from_tape) {
            CHECK(builder.add_bundle_entry(tape.root(), "prefetch.data", 0) == 1);
        } else {
            CHECK(builder.add_bundle_entry(entry, "prefetch.data", 0) == 1);
        }
        auto const snapshot = std::move(builder).build();
        REQUIRE(snapshot.observations.size() == 1);
        auto const& o = snapshot.observations.front();
        CHECK(o.id == "obs-1");
        CHECK(o.status == "final");
        REQUIRE(o.code.codings.size() == 1);
        CHECK(o.code.codings.front().system == "http://loinc.org");
        CHECK(o.code.codings.front().code == "19123-9");
        CHECK(o.subject == "Patient/p1");
        REQUIRE(o.effective_date_time.has_value());
        CHECK(o.effective_date_time->start == cds::fhir::test::utc(2026, 3, 9, 8));
        REQUIRE(o.value_quantity.has_value());
        CHECK(o.value_quantity->value == 0.6);
    }
}
