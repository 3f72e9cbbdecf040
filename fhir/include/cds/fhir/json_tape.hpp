#pragma once
// A JSON value laid out as a flat run of nodes in document order, built straight from a
// parser's events. The typed readers read it exactly as they read a Boost.JSON tree (the same
// members, the same issues), without the tree's per-member allocations, hashing and copying:
// strings stay where the parser saw them (the request body; the builder's caller copies the
// ones the parser had to unescape), numbers are stored as parsed.
//
// Layout: a container node is followed by its contents; an object's members are a key node
// (kind string) then the member's value. Every node knows how many nodes its subtree spans,
// so skipping a member is one addition.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/json/kind.hpp>
#include <boost/json/memory_resource.hpp>

namespace cds::fhir {

class tape_node;

// An object's member: its name and its value.
class tape_member {
public:
    explicit tape_member(tape_node const* key) : key_(key) {}
    [[nodiscard]] std::string_view key() const;
    [[nodiscard]] std::uint32_t tag() const;
    [[nodiscard]] tape_node const& value() const;

private:
    tape_node const* key_;
};

class tape_node {
public:
    [[nodiscard]] boost::json::kind kind() const { return kind_; }
    [[nodiscard]] bool is_null() const { return kind_ == boost::json::kind::null; }
    [[nodiscard]] bool is_string() const { return kind_ == boost::json::kind::string; }
    [[nodiscard]] bool is_object() const { return kind_ == boost::json::kind::object; }
    [[nodiscard]] bool is_array() const { return kind_ == boost::json::kind::array; }

    // The accessors of boost::json::value that the readers use: the node itself stands for
    // the object, the array or the string.
    [[nodiscard]] tape_node const* if_object() const { return is_object() ? this : nullptr; }
    [[nodiscard]] tape_node const* if_array() const { return is_array() ? this : nullptr; }
    [[nodiscard]] tape_node const* if_string() const { return is_string() ? this : nullptr; }
    [[nodiscard]] bool const* if_bool() const {
        return kind_ == boost::json::kind::bool_ ? &scalar_.boolean : nullptr;
    }
    [[nodiscard]] double const* if_double() const {
        return kind_ == boost::json::kind::double_ ? &scalar_.real : nullptr;
    }
    [[nodiscard]] std::int64_t const* if_int64() const {
        return kind_ == boost::json::kind::int64 ? &scalar_.signed_integer : nullptr;
    }
    [[nodiscard]] std::uint64_t const* if_uint64() const {
        return kind_ == boost::json::kind::uint64 ? &scalar_.unsigned_integer : nullptr;
    }
    [[nodiscard]] tape_node const& get_object() const { return *this; }
    [[nodiscard]] std::string_view get_string() const { return {scalar_.chars, size_}; }

    // A string's bytes; the members of an object; the elements of an array.
    [[nodiscard]] char const* data() const { return scalar_.chars; }
    [[nodiscard]] std::size_t size() const { return size_; }
    // The nodes this value spans, itself included.
    [[nodiscard]] std::size_t span() const { return span_; }
    [[nodiscard]] std::uint32_t tag() const { return tag_; }

    // The member `key` of an object (the last one, as in a Boost.JSON tree), or nullptr.
    [[nodiscard]] tape_node const* if_contains(std::string_view key) const;

private:
    friend class tape_builder;
    union scalar {
        char const* chars;
        double real;
        std::int64_t signed_integer;
        std::uint64_t unsigned_integer;
        bool boolean;
    };
    scalar scalar_{nullptr};
    std::uint32_t size_ = 0;
    std::uint32_t span_ = 1;
    // A member name's signature (tape_name_tag); on an object, 1 when it has a resourceType.
    std::uint32_t tag_ = 0;
    boost::json::kind kind_ = boost::json::kind::null;
};

inline std::string_view tape_member::key() const { return key_->get_string(); }
inline std::uint32_t tape_member::tag() const { return key_->tag(); }
inline tape_node const& tape_member::value() const { return key_[1]; }

// Walks the elements of an array or the members of an object, one subtree at a time.
template <class Item>
class tape_range {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Item;
        iterator() = default;
        explicit iterator(tape_node const* at) : at_(at) {}
        Item operator*() const {
            if constexpr (std::is_same_v<Item, tape_member>) {
                return tape_member{at_};
            } else {
                return *at_;
            }
        }
        iterator& operator++() {
            if constexpr (std::is_same_v<Item, tape_member>) {
                at_ += 1 + at_[1].span();  // the key, then the value's subtree
            } else {
                at_ += at_->span();
            }
            return *this;
        }
        iterator operator++(int) {
            auto const before = *this;
            ++*this;
            return before;
        }
        bool operator==(iterator const& other) const { return at_ == other.at_; }

    private:
        tape_node const* at_ = nullptr;
    };
    explicit tape_range(tape_node const& container)
        : begin_(&container + 1), end_(&container + container.span()) {}
    [[nodiscard]] iterator begin() const { return iterator{begin_}; }
    [[nodiscard]] iterator end() const { return iterator{end_}; }

private:
    tape_node const* begin_;
    tape_node const* end_;
};

// Member and element ranges, spelled alike for a tape and a Boost.JSON tree so that one
// reader serves both (json_read.hpp).
inline tape_range<tape_member> members(tape_node const& object) {
    return tape_range<tape_member>{object};
}
inline tape_range<tape_node const&> elements(tape_node const& array) {
    return tape_range<tape_node const&>{array};
}

// A copy of `text` owned by `store`, for a tape or tree that must outlive the buffer `text`
// lies in (empty text needs no copy).
std::string_view copy_into(boost::json::memory_resource& store, std::string_view text);

// A cheap signature of a member name, so that names are compared byte by byte only when
// their length and first, middle and last bytes agree.
constexpr std::uint32_t tape_name_tag(std::string_view name) {
    if (name.empty()) return 0;
    auto const byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(name[i]));
    };
    return (static_cast<std::uint32_t>(name.size()) & 0xffU) | byte(0) << 8 |
           byte(name.size() / 2) << 16 | byte(name.size() - 1) << 24;
}

// Builds one value's tape from parser events. Strings given to it must outlive the tape.
// The event methods are inline: the reader calls one per token.
class tape_builder {
public:
    void clear();
    void reserve(std::size_t nodes, std::size_t depth) {
        nodes_.reserve(nodes);
        open_.reserve(depth);
    }
    [[nodiscard]] std::size_t node_capacity() const { return nodes_.capacity(); }
    // The bytes read_text's buffer for strings with escapes has grown to.
    [[nodiscard]] std::size_t unescaped_capacity() const { return unescaped_.capacity(); }
    // Gives back the memory its vectors and buffer grew to (an assignment from an empty
    // builder would keep the string's buffer).
    void release_memory();
    void begin_object() { open(boost::json::kind::object); }
    void begin_array() { open(boost::json::kind::array); }
    void end_object() { (void)close_container(); }
    void end_array() { (void)close_container(); }
    [[gnu::always_inline]] void key(std::string_view name) { add_name(open_.back(), name); }
    [[gnu::always_inline]] void string(std::string_view text) {
        set_string(add(boost::json::kind::string), text);
    }
    void int64(std::int64_t i) { add(boost::json::kind::int64).scalar_.signed_integer = i; }
    void uint64(std::uint64_t u) { add(boost::json::kind::uint64).scalar_.unsigned_integer = u; }
    void real(double d) { add(boost::json::kind::double_).scalar_.real = d; }
    void boolean(bool b) { add(boost::json::kind::bool_).scalar_.boolean = b; }
    void null() { (void)add(boost::json::kind::null); }

    // Lays out the JSON value that starts at `at` (after any whitespace) in one go, in place
    // of what the builder held, as the events above would (from a cleared builder), for text
    // in the json_text.hpp subset; `at` moves past the value.
    // Strings stay in the text unless they had escapes; those are unescaped into `store`.
    // At most `max_open` containers may be open at once. Returns false, with the tape in an
    // unspecified state, for text outside the subset (the caller reads it with Boost.JSON).
    bool read_text(char const*& at,
                   char const* end,
                   std::size_t max_open,
                   boost::json::memory_resource& store);

    // The value is complete: no container is open.
    [[nodiscard]] bool complete() const { return open_.empty() && !nodes_.empty(); }
    [[nodiscard]] tape_node const& root() const { return nodes_.front(); }
    // Some object names a member twice; a tree keeps the last, so the caller reads a tree.
    [[nodiscard]] bool has_repeated_member() const { return repeated_member_; }
    // Objects whose (last) resourceType member is a string, as the request's limit counts.
    [[nodiscard]] std::size_t resource_count() const { return resource_count_; }
    // Some container or string is too large for a node's 32-bit counts.
    [[nodiscard]] bool too_large() const { return too_large_; }

private:
    struct open_container;
    // A value: counted as an element when it is in an array (an object counts its keys).
    [[gnu::always_inline]] tape_node& add(boost::json::kind kind) {
        count_element();
        return emit(kind);
    }
    void count_element() {
        if (!open_.empty() && !open_.back().object) ++open_.back().count;
    }
    // A node of `kind`, not counted in its container.
    [[gnu::always_inline]] tape_node& emit(boost::json::kind kind) {
        auto& node = nodes_.emplace_back();
        node.kind_ = kind;
        return node;
    }
    [[gnu::always_inline]] tape_node& set_string(tape_node& node, std::string_view text) {
        node.kind_ = boost::json::kind::string;
        node.scalar_.chars = text.data();
        if (text.size() > max_count) too_large_ = true;
        node.size_ = static_cast<std::uint32_t>(text.size());
        return node;
    }
    // A member name of `object`: counted, its tag noted, its node added.
    [[gnu::always_inline]] void add_name(open_container& object, std::string_view name);
    void open(boost::json::kind kind) {
        count_element();
        (void)open_node(kind);
    }
    // A container's node, not counted in its container, and its entry in open_.
    [[gnu::always_inline]] open_container& open_node(boost::json::kind kind) {
        (void)emit(kind);
        // Built in place: a braced temporary is assembled on the stack by two overlapping
        // stores and copied by a load that spans both, which the CPU cannot forward (perf on
        // the server: a fifth of read_text's cycles stalled on that load).
        auto& opened = open_.emplace_back();
        opened.at = nodes_.size() - 1;
        opened.object = kind == boost::json::kind::object;
        return opened;
    }
    void check_members(tape_node const& object, bool maybe_repeated);
    // Inlined into read_text, their only caller: one call per token otherwise costs a sixth
    // of a member name's instructions in saving registers and loading constants.
    [[gnu::always_inline]] inline bool read_member_name(open_container& object,
                                                        char const*& at,
                                                        char const* end,
                                                        boost::json::memory_resource& store);
    [[gnu::always_inline]] inline bool read_scalar(char const*& at,
                                                   char const* end,
                                                   boost::json::memory_resource& store);
    // Writes what open_ kept of the innermost container to its node and closes it; returns
    // the container around it, or nullptr when none is left open.
    [[gnu::always_inline]] inline open_container* close_container();
    std::string_view kept_string(std::string_view value,
                                 bool unescaped,
                                 boost::json::memory_resource& store);

    static constexpr std::size_t max_count = 0xffffffffU;
    static constexpr std::uint32_t resource_type_tag = tape_name_tag("resourceType");
    std::vector<tape_node> nodes_;
    // An open container: what its node gets when it closes (close_container). 32 bytes.
    struct open_container {
        std::size_t at = 0;                        // its position
        std::array<std::uint64_t, 2> name_bits{};  // an object's member names, a bit each
        std::uint32_t count = 0;                   // members or elements so far
        bool maybe_repeated = false;               // two member names share a bit
        bool object = false;                       // an object, not an array
        bool resource_type = false;                // a member name with resourceType's tag
    };
    std::vector<open_container> open_;
    std::string unescaped_;  // read_text's buffer for a string with escapes
    std::size_t resource_count_ = 0;
    bool repeated_member_ = false;
    bool too_large_ = false;
};

inline void tape_builder::add_name(open_container& object, std::string_view name) {
    ++object.count;
    std::uint32_t const tag = tape_name_tag(name);
    // The object's node is tagged as having a resourceType member when it closes
    // (check_members then counts it as a resource).
    if (tag == resource_type_tag) object.resource_type = true;
    // Equal names have equal tags, so a bit seen before is the only case check_members has
    // to look into. 128 bits: a resource's dozen names share one in about 40 % of resources
    // (64 bits: 65 %), each time costing a pairwise check.
    std::uint32_t const slot = (tag * 0x9E3779B1U) >> 25;
    std::uint64_t& word = object.name_bits[slot >> 6];
    std::uint64_t const bit = std::uint64_t{1} << (slot & 63U);
    if ((word & bit) != 0) object.maybe_repeated = true;
    word |= bit;
    set_string(emit(boost::json::kind::string), name).tag_ = tag;
}

inline tape_builder::open_container* tape_builder::close_container() {
    open_container const& closing = open_.back();
    auto& node = nodes_[closing.at];
    node.size_ = closing.count;
    std::size_t const span = nodes_.size() - closing.at;
    if (span > max_count) too_large_ = true;
    node.span_ = static_cast<std::uint32_t>(span);
    if (closing.resource_type) node.tag_ = 1;
    // Most objects neither are a resource nor may repeat a name: nothing to look into.
    if (closing.maybe_repeated || closing.resource_type)
        check_members(node, closing.maybe_repeated);
    open_.pop_back();
    return open_.empty() ? nullptr : &open_.back();
}

}  // namespace cds::fhir
