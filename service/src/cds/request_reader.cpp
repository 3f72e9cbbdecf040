#include "cds/service/cds/request_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value_stack.hpp>

#include "cds/fhir/json_tape.hpp"
#include "cds/fhir/medication_request_text.hpp"
#include "cds/fhir/observation_text.hpp"
#include "cds/fhir/read_members.hpp"
#include "cds/request_arena.hpp"
#include "cds/service/cds/errors.hpp"
#include "cds/service/cds/hook_context.hpp"
#include "cds/service/cds/json_tokenizer.hpp"
#include "cds/service/http/router.hpp"

namespace cds::service {

namespace {

using boost::system::error_code;
namespace json = boost::json;

enum class frame_kind : std::uint8_t {
    request,   // the request object: its members are the envelope
    prefetch,  // the prefetch object, read member by member
    bundle,    // a prefetch Bundle, read member by member
    entries,   // its entry array, read element by element
    built,     // a container that is part of the value being built
    skipped,   // a container no reader looks at
};

// Which members of a built object are kept.
enum class member_filter : std::uint8_t {
    all,
    prefetch_pending,  // a prefetch value before its resourceType is known (a Bundle streams)
    resource,          // a resource of a known type: what its reader reads
};

struct frame {
    frame_kind kind = frame_kind::built;
    member_filter filter = member_filter::all;
    bool is_object = true;
    bool counted = false;         // under prefetch or context.draftOrders
    bool is_context = false;      // the request's context object
    bool type_is_string = false;  // its (last) resourceType member is a string
    std::uint32_t size = 0;       // members or elements built so far
    std::size_t index = 0;        // entries: the next element's index
    std::string_view type;        // resource: its resourceType (a static string), or empty
};

frame built_frame(member_filter filter, bool counted, bool is_context = false) {
    frame f;
    f.filter = filter;
    f.counted = counted;
    f.is_context = is_context;
    return f;
}

frame other_frame(frame_kind kind, bool counted) {
    frame f;
    f.kind = kind;
    f.counted = counted;
    return f;
}

enum class value_kind : std::uint8_t { object, array, string, other };

// The reader's working vectors: its container frames and the tape of the current entry.
struct reader_vectors {
    std::vector<frame> frames;
    fhir::tape_builder tape;
};

// The reader's vectors, kept per thread: a read starts with the capacity earlier reads on the
// thread grew (the tape grows to the largest entry's nodes) instead of allocating and growing
// it again. A read nested on the same thread (there is none) would get vectors of its own.
class reader_vectors_lease {
public:
    reader_vectors_lease() {
        if (cached_in_use_) {
            own_ = std::make_unique<reader_vectors>();
            leased_ = own_.get();
        } else {
            cached_in_use_ = true;
            leased_ = &cached_;
        }
    }
    ~reader_vectors_lease() {
        if (leased_ != &cached_) return;
        // What a hostile body grew is not kept for the thread's lifetime.
        if (cached_.tape.node_capacity() > max_kept_tape_nodes ||
            cached_.tape.unescaped_capacity() > max_kept_unescaped_bytes)
            cached_.tape.release_memory();
        cached_in_use_ = false;
    }
    reader_vectors_lease(reader_vectors_lease const&) = delete;
    reader_vectors_lease& operator=(reader_vectors_lease const&) = delete;

    [[nodiscard]] reader_vectors& get() const { return *leased_; }

private:
    static constexpr std::size_t max_kept_tape_nodes = 16 * 1024;  // 384 KB
    static constexpr std::size_t max_kept_unescaped_bytes = 64 * 1024;
    static thread_local reader_vectors cached_;
    static thread_local bool cached_in_use_;
    reader_vectors* leased_ = nullptr;
    std::unique_ptr<reader_vectors> own_;
};

thread_local reader_vectors reader_vectors_lease::cached_;
thread_local bool reader_vectors_lease::cached_in_use_ = false;

// The basic_parser handler: each event goes to the value being built, to the streamed
// containers, or nowhere.
class request_handler {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    request_handler(json::storage_ptr storage,
                    std::string_view body,
                    std::span<unsigned char> scratch,
                    rules::hook_context& context,
                    fhir::snapshot_builder& builder,
                    one_pass_limits limits,
                    reader_vectors& vectors)
        : storage_(std::move(storage)),
          context_(context),
          builder_(builder),
          values_(storage_),
          frames_(vectors.frames),
          envelope_(storage_),
          prefetch_(storage_),
          body_(body),
          scratch_(scratch),
          tape_(vectors.tape),
          max_resources_(limits.max_resources) {
        frames_.clear();
        tape_.clear();
        frames_.reserve(std::size_t{limits.max_depth} + 2U);
        // Room for a typical request, so that it is read with a handful of allocations.
        envelope_.reserve(8);
        prefetch_.reserve(16);
        tape_.reserve(128, 16);
    }

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code& ec) { return open_container(value_kind::object, ec); }
    bool on_object_end(std::size_t, error_code& ec) {
        return close_container(value_kind::object, ec);
    }
    bool on_array_begin(error_code& ec) { return open_container(value_kind::array, ec); }
    bool on_array_end(std::size_t, error_code& ec) {
        return close_container(value_kind::array, ec);
    }
    bool on_key_part(json::string_view s, std::size_t, error_code&) {
        key_.append(s.data(), s.size());
        return true;
    }
    bool on_key(json::string_view s, std::size_t, error_code& ec);
    bool on_string_part(json::string_view s, std::size_t, error_code& ec);
    bool on_string(json::string_view s, std::size_t, error_code& ec);
    bool on_number_part(json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, error_code& ec) {
        if (taping_ || starts_tape()) return taped([&] { tape_.int64(i); }, ec);
        return scalar([&] { values_.push_int64(i); }, ec);
    }
    bool on_uint64(std::uint64_t u, json::string_view, error_code& ec) {
        if (taping_ || starts_tape()) return taped([&] { tape_.uint64(u); }, ec);
        return scalar([&] { values_.push_uint64(u); }, ec);
    }
    bool on_double(double d, json::string_view, error_code& ec) {
        if (taping_ || starts_tape()) return taped([&] { tape_.real(d); }, ec);
        return scalar([&] { values_.push_double(d); }, ec);
    }
    bool on_bool(bool b, error_code& ec) {
        if (taping_ || starts_tape()) return taped([&] { tape_.boolean(b); }, ec);
        return scalar([&] { values_.push_bool(b); }, ec);
    }
    bool on_null(error_code& ec) {
        if (taping_ || starts_tape()) return taped([&] { tape_.null(); }, ec);
        return scalar([&] { values_.push_null(); }, ec);
    }
    bool on_comment_part(json::string_view, error_code&) { return true; }
    bool on_comment(json::string_view, error_code&) { return true; }

    [[nodiscard]] bool needs_tree() const { return needs_tree_; }
    one_pass_read finish();

    // For json_tokenizer: a Bundle entry is read from the text in one go, an Observation
    // straight into the snapshot (observation_text.hpp) and anything else onto its tape.
    [[nodiscard]] bool reads_next_value() const {
        return !taping_ && !frames_.empty() && frames_.back().kind == frame_kind::entries;
    }
    value_read_outcome read_next_value(char const*& at,
                                       char const* end,
                                       std::size_t max_open,
                                       error_code& ec);

private:
    // An entry holding an Observation, read straight into the snapshot; false leaves it.
    bool read_observation_entry(char const*& at, char const* end, std::size_t max_open);
    bool read_medication_request_entry(char const*& at, char const* end, std::size_t max_open);
    bool read_taped_entry(char const*& at, char const* end, std::size_t max_open);

    enum class destination : std::uint8_t { build, skip, stream };
    struct start {
        destination where;
        frame child;  // the frame a container value gets
    };

    start begin_value(value_kind kind);
    start begin_in_structure(frame const& top, value_kind kind);
    start begin_in_built(frame const& top, value_kind kind) const;
    bool open_container(value_kind kind, error_code& ec) {
        if (!taping_ && !starts_tape()) return begin_container(kind, ec);
        if (kind == value_kind::object) {
            tape_.begin_object();
        } else {
            tape_.begin_array();
        }
        return true;
    }
    bool close_container(value_kind kind, error_code& ec) {
        if (!taping_) return end_container(ec);
        if (kind == value_kind::object) {
            tape_.end_object();
        } else {
            tape_.end_array();
        }
        return after_taped(ec);
    }
    bool begin_container(value_kind kind, error_code& ec);
    bool end_container(error_code& ec);
    void end_structure(frame const& ended);
    template <class Push>
    bool scalar(Push push, error_code& ec);
    void after_scalar();
    void key_in_built(frame& top, std::string_view key);
    bool key_in_structure(frame& top, std::string_view key);
    bool decide_type(frame& top, std::string_view type);
    void complete(json::value value);
    // A Bundle entry is laid out as a tape (fhir/json_tape.hpp) straight from the events.
    bool starts_tape() {
        if (frames_.empty() || frames_.back().kind != frame_kind::entries) return false;
        begin_tape();
        return true;
    }
    void begin_tape();
    template <class Add>
    bool taped(Add add, error_code& ec) {
        add();
        return after_taped(ec);
    }
    bool after_taped(error_code& ec) {
        if (tape_.complete()) end_tape();
        return needs_tree_ ? stop(ec) : true;
    }
    void end_tape();
    // A string the tape can point at until the entry is read: the body's own bytes when the
    // parser handed them over whole, else a copy in the entry's arena. `parts` holds what
    // arrived before `text` and is left empty.
    std::string_view stable(std::string_view text, std::string& parts) {
        if (parts.empty() && in_body(text)) return text;
        return copy_to_entry_arena(text, parts);
    }
    std::string_view copy_to_entry_arena(std::string_view text, std::string& parts);
    [[nodiscard]] bool in_body(std::string_view text) const {
        auto const at = reinterpret_cast<std::uintptr_t>(text.data());
        auto const begin = reinterpret_cast<std::uintptr_t>(body_.data());
        return at >= begin && at - begin + text.size() <= body_.size();
    }
    void push_tape(fhir::tape_node const& node);
    bool stop(error_code& ec) {
        needs_tree_ = true;
        ec = json::error::exception;
        return false;
    }
    // A member of the request or of prefetch: a repeated name is the tree's to read (it keeps
    // the last), which the object's own emplace tells.
    void keep_member(json::object& object, std::string_view key, json::value value) {
        if (!object.emplace(key, std::move(value)).second) needs_tree_ = true;
    }
    // A member name that stays readable until the read ends: the body's own bytes, or a copy
    // in the envelope's memory.
    std::string_view kept_name(std::string_view name);
    void count_resource(std::size_t n) {
        count_ += n;
        if (count_ > max_resources_) needs_tree_ = true;
    }
    json::storage_ptr entry_storage();

    json::storage_ptr storage_;
    rules::hook_context& context_;
    fhir::snapshot_builder& builder_;
    json::value_stack values_;
    std::vector<frame>& frames_;

    std::string key_;               // a member name arriving in parts
    std::string type_;              // a resourceType value arriving in parts
    std::string_view request_key_;  // the request member whose value is being read
    std::string_view prefetch_key_;
    std::string bundle_path_;  // "prefetch.<key>" of the value being read
    bool bundle_key_is_entry_ = false;
    // The pending member of a built object: kept or not, and what its value gets.
    bool keep_next_ = true;
    bool next_counted_ = false;
    member_filter next_filter_ = member_filter::all;
    bool next_is_type_ = false;  // the pending member is a counted object's resourceType
    bool type_decides_ = false;  // ... and its value decides the object's member filter
    bool in_string_ = false;
    destination string_destination_ = destination::skip;
    bool context_read_ = false;
    bool prefetch_streamed_ = false;
    bool entry_seen_ = false;
    bool needs_tree_ = false;
    std::size_t count_ = 0;
    std::size_t skipped_drafts_ = 0;
    json::object envelope_;
    json::object prefetch_;
    std::string_view body_;  // strings inside it outlive the read
    // Where an entry's copied strings (and, for a repeated member, its tree) go; reused.
    std::span<unsigned char> scratch_;
    std::optional<request_arena> entry_arena_;
    bool taping_ = false;
    fhir::tape_builder& tape_;
    std::string text_;  // a string arriving in parts, while taping
    std::size_t max_resources_;
};

std::string_view request_handler::kept_name(std::string_view name) {
    return in_body(name) ? name : fhir::copy_into(*storage_, name);
}

json::storage_ptr request_handler::entry_storage() {
    entry_arena_.reset();  // the previous entry has gone to the builder
    entry_arena_.emplace(scratch_.data(), scratch_.size());
    return json::storage_ptr(&*entry_arena_);
}

// Called as a value starts, with the object or array it is in on top of the frames.
request_handler::start request_handler::begin_value(value_kind kind) {
    if (frames_.empty()) {
        // The request itself; anything but an object is the schema's to refuse, on a tree.
        if (kind != value_kind::object) needs_tree_ = true;
        return {destination::stream, other_frame(frame_kind::request, false)};
    }
    frame& top = frames_.back();
    if (type_decides_ && kind != value_kind::string) type_decides_ = false;
    if (next_is_type_) {
        top.type_is_string = kind == value_kind::string;  // the last one counts, as in a tree
        next_is_type_ = false;
    }
    if (top.kind == frame_kind::built) return begin_in_built(top, kind);
    if (top.kind == frame_kind::skipped)
        return {destination::skip, other_frame(frame_kind::skipped, top.counted)};
    return begin_in_structure(top, kind);
}

request_handler::start request_handler::begin_in_built(frame const& top, value_kind kind) const {
    if (!top.is_object) {
        return {destination::build, built_frame(member_filter::all, top.counted)};
    }
    if (!keep_next_) {
        return {destination::skip, other_frame(frame_kind::skipped, next_counted_)};
    }
    return {
        destination::build,
        built_frame(kind == value_kind::object ? next_filter_ : member_filter::all, next_counted_)};
}

request_handler::start request_handler::begin_in_structure(frame const& top, value_kind kind) {
    bool const object = kind == value_kind::object;
    switch (top.kind) {
        case frame_kind::request:
            if (request_key_ == "prefetch" && context_read_ && object) {
                prefetch_streamed_ = true;
                return {destination::stream, other_frame(frame_kind::prefetch, true)};
            }
            values_.reset(storage_);
            return {destination::build, built_frame(member_filter::all, request_key_ == "prefetch",
                                                    request_key_ == "context" && object)};
        case frame_kind::prefetch:
            values_.reset(storage_);
            return {
                destination::build,
                built_frame(object ? member_filter::prefetch_pending : member_filter::all, true)};
        case frame_kind::bundle:
            if (!bundle_key_is_entry_)
                return {destination::skip, other_frame(frame_kind::skipped, true)};
            if (kind == value_kind::array)
                return {destination::stream, other_frame(frame_kind::entries, true)};
            values_.reset(entry_storage());
            return {destination::build, built_frame(member_filter::all, true)};
        default:  // entries: each element is read from the text or taped before it gets here
            return {destination::skip, other_frame(frame_kind::skipped, true)};
    }
}

bool request_handler::begin_container(value_kind kind, error_code& ec) {
    auto s = begin_value(kind);
    if (needs_tree_) return stop(ec);
    frames_.push_back(s.child);
    frames_.back().is_object = kind == value_kind::object;
    return true;
}

bool request_handler::end_container(error_code& ec) {
    frame const ended = frames_.back();
    frames_.pop_back();
    if (ended.is_object && ended.counted && ended.type_is_string) count_resource(1);
    if (ended.kind == frame_kind::built) {
        if (ended.is_object) {
            values_.push_object(ended.size);
        } else {
            values_.push_array(ended.size);
        }
        after_scalar();
    } else if (ended.kind != frame_kind::skipped) {
        end_structure(ended);
    }
    return needs_tree_ ? stop(ec) : true;
}

// A streamed container ends: a Bundle stands in the envelope as its resourceType alone.
void request_handler::end_structure(frame const& ended) {
    if (ended.kind == frame_kind::bundle) {
        json::object placeholder(storage_);
        placeholder.emplace("resourceType", "Bundle");
        keep_member(prefetch_, prefetch_key_, std::move(placeholder));
    } else if (ended.kind == frame_kind::prefetch) {
        keep_member(envelope_, "prefetch", std::move(prefetch_));
    }
}

// A built value ended: it is part of its container, or complete.
void request_handler::after_scalar() {
    if (frames_.empty()) return;
    frame& top = frames_.back();
    if (top.kind == frame_kind::built) {
        ++top.size;
    } else if (top.kind != frame_kind::skipped) {
        complete(values_.release());
    }
}

template <class Push>
bool request_handler::scalar(Push push, error_code& ec) {
    auto const s = begin_value(value_kind::other);
    if (needs_tree_) return stop(ec);
    if (s.where == destination::build) {
        push();
        after_scalar();
    }
    return needs_tree_ ? stop(ec) : true;
}

bool request_handler::on_string_part(json::string_view s, std::size_t, error_code& ec) {
    if (taping_ || starts_tape()) {
        text_.append(s.data(), s.size());
        return true;
    }
    if (!in_string_) {
        in_string_ = true;
        string_destination_ = begin_value(value_kind::string).where;
        if (needs_tree_) return stop(ec);
    }
    if (type_decides_) type_.append(s.data(), s.size());
    if (string_destination_ == destination::build) values_.push_chars(s);
    return true;
}

bool request_handler::on_string(json::string_view s, std::size_t, error_code& ec) {
    if (taping_ || starts_tape()) {
        tape_.string(stable({s.data(), s.size()}, text_));
        return after_taped(ec);
    }
    if (!in_string_) {
        string_destination_ = begin_value(value_kind::string).where;
        if (needs_tree_) return stop(ec);
    }
    in_string_ = false;
    if (type_decides_) {
        type_decides_ = false;
        type_.append(s.data(), s.size());
        bool const streamed = decide_type(frames_.back(), type_);
        type_.clear();
        if (streamed) return true;
    }
    if (string_destination_ == destination::build) {
        values_.push_string(s);
        after_scalar();
    }
    return needs_tree_ ? stop(ec) : true;
}

// The first member of a prefetch value is its resourceType: the object's member filter
// follows from it, and a Bundle is read entry by entry from here on. Returns true when the
// value has become a streamed Bundle.
bool request_handler::decide_type(frame& top, std::string_view type) {
    if (type == "Bundle") {
        top.kind = frame_kind::bundle;
        bundle_path_ = "prefetch.";
        bundle_path_.append(prefetch_key_.data(), prefetch_key_.size());
        top.type_is_string = true;
        values_.reset(storage_);  // drops the resourceType member pushed so far
        entry_seen_ = false;
        return true;
    }
    top.filter = member_filter::resource;
    top.type = fhir::snapshot_resource_type(type);
    return false;
}

bool request_handler::on_key(json::string_view s, std::size_t, error_code& ec) {
    if (taping_) {
        tape_.key(stable({s.data(), s.size()}, key_));
        return true;
    }
    std::string_view key{s.data(), s.size()};
    if (!key_.empty()) {
        key_.append(s.data(), s.size());
        key = key_;
    }
    frame& top = frames_.back();
    next_is_type_ = top.counted && key == "resourceType";
    bool ok = true;
    if (top.kind == frame_kind::built) {
        key_in_built(top, key);
    } else if (top.kind != frame_kind::skipped) {
        ok = key_in_structure(top, key);
    }
    key_.clear();
    return ok && !needs_tree_ ? true : stop(ec);
}

void request_handler::key_in_built(frame& top, std::string_view key) {
    keep_next_ = true;
    next_filter_ = member_filter::all;
    next_counted_ = top.counted || (top.is_context && key == "draftOrders");
    switch (top.filter) {
        case member_filter::all:
            break;
        case member_filter::prefetch_pending:
            // Only a first member decides; a resourceType later on keeps the object whole.
            if (key == "resourceType" && top.size == 0) {
                type_decides_ = true;
            } else {
                top.filter = member_filter::all;
            }
            break;
        case member_filter::resource:
            // A repeated resourceType could name another type, whose members were dropped.
            if (key == "resourceType") needs_tree_ = true;
            keep_next_ = fhir::is_read_member(top.type, key);
            break;
    }
    if (keep_next_) values_.push_key(key);
}

bool request_handler::key_in_structure(frame& top, std::string_view key) {
    switch (top.kind) {
        case frame_kind::request:
            request_key_ = kept_name(key);
            return true;
        case frame_kind::prefetch:
            prefetch_key_ = kept_name(key);
            return true;
        case frame_kind::bundle:
            if (key == "resourceType") return false;
            bundle_key_is_entry_ = key == "entry";
            if (bundle_key_is_entry_) {
                if (entry_seen_) return false;
                entry_seen_ = true;
            }
            return true;
        default:
            return true;
    }
}

// A value read whole at the level of the request, of prefetch or of a streamed Bundle.
void request_handler::complete(json::value value) {
    frame& top = frames_.back();
    switch (top.kind) {
        case frame_kind::request:
            if (request_key_ == "context") {
                skipped_drafts_ = read_context_member(value, context_, builder_);
                context_read_ = true;
            }
            keep_member(envelope_, request_key_, std::move(value));
            break;
        case frame_kind::prefetch:
            read_prefetch_member(prefetch_key_, value, builder_);
            keep_member(prefetch_, prefetch_key_, std::move(value));
            break;
        case frame_kind::bundle:
            (void)builder_.add_bundle_entries(value, bundle_path_);
            break;
        default:  // an entries element is read from the text or taped, never built
            break;
    }
}

value_read_outcome request_handler::read_next_value(char const*& at,
                                                    char const* end,
                                                    std::size_t max_open,
                                                    error_code& ec) {
    if (!read_observation_entry(at, end, max_open) &&
        !read_medication_request_entry(at, end, max_open) && !read_taped_entry(at, end, max_open))
        return value_read_outcome::declined;
    if (needs_tree_) {
        (void)stop(ec);
        return value_read_outcome::stopped;
    }
    return value_read_outcome::read;
}

bool request_handler::read_observation_entry(char const*& at,
                                             char const* end,
                                             std::size_t max_open) {
    auto const read = fhir::read_observation_entry(at, end, max_open, builder_.observation_filter(),
                                                   builder_.start_observation());
    if (!read) {
        builder_.drop_observation();
        return false;
    }
    count_resource(read->resource_count);
    if (needs_tree_) {  // over the limit: the entry is not read (as end_tape)
        builder_.drop_observation();
        return true;
    }
    ++frames_.back().index;
    builder_.finish_observation(read->kept);
    return true;
}

bool request_handler::read_medication_request_entry(char const*& at,
                                                    char const* end,
                                                    std::size_t max_open) {
    auto const read =
        fhir::read_medication_request_entry(at, end, max_open, builder_.start_medication_order());
    if (!read) {
        builder_.drop_medication_order();
        return false;
    }
    count_resource(read->resource_count);
    if (needs_tree_) {  // over the limit: the entry is not read (as end_tape)
        builder_.drop_medication_order();
        return true;
    }
    builder_.finish_medication_order(bundle_path_, frames_.back().index++);
    return true;
}

bool request_handler::read_taped_entry(char const*& at, char const* end, std::size_t max_open) {
    begin_tape();
    if (!tape_.read_text(at, end, max_open, *entry_arena_)) return false;
    end_tape();
    return true;
}

void request_handler::begin_tape() {
    taping_ = true;
    tape_.clear();
    (void)entry_storage();  // the previous entry's copied strings are no longer needed
}

std::string_view request_handler::copy_to_entry_arena(std::string_view text, std::string& parts) {
    parts.append(text.data(), text.size());
    std::string_view const kept = fhir::copy_into(*entry_arena_, parts);
    parts.clear();
    return kept;
}

void request_handler::end_tape() {
    taping_ = false;
    if (tape_.too_large()) {
        needs_tree_ = true;  // counts past 32 bits: the tree reads it (and the limits refuse it)
        return;
    }
    count_resource(tape_.resource_count());
    if (needs_tree_) return;  // over the limit: the entry is not read
    std::size_t const index = frames_.back().index++;
    if (!tape_.has_repeated_member()) {
        (void)builder_.add_bundle_entry(tape_.root(), bundle_path_, index);
        return;
    }
    // A repeated member: a tree keeps the last one, so the entry is read as a tree.
    values_.reset(json::storage_ptr(&*entry_arena_));
    push_tape(tape_.root());
    (void)builder_.add_bundle_entry(values_.release(), bundle_path_, index);
}

void request_handler::push_tape(fhir::tape_node const& node) {
    switch (node.kind()) {
        case json::kind::object:
            for (auto const member : fhir::members(node)) {
                values_.push_key({member.key().data(), member.key().size()});
                push_tape(member.value());
            }
            values_.push_object(node.size());
            break;
        case json::kind::array:
            for (auto const& element : fhir::elements(node)) push_tape(element);
            values_.push_array(node.size());
            break;
        case json::kind::string:
            values_.push_string({node.data(), node.size()});
            break;
        case json::kind::int64:
            values_.push_int64(*node.if_int64());
            break;
        case json::kind::uint64:
            values_.push_uint64(*node.if_uint64());
            break;
        case json::kind::double_:
            values_.push_double(*node.if_double());
            break;
        case json::kind::bool_:
            values_.push_bool(*node.if_bool());
            break;
        case json::kind::null:
            values_.push_null();
            break;
    }
}

one_pass_read request_handler::finish() {
    // A prefetch read whole (it came before context) is added now, after context, as
    // read_hook_context adds it.
    if (!prefetch_streamed_) {
        if (auto const* p = envelope_.if_contains("prefetch"); p != nullptr && p->is_object()) {
            for (auto const& member : p->get_object()) {
                read_prefetch_member({member.key().data(), member.key().size()}, member.value(),
                                     builder_);
            }
        }
    }
    // Built in place: assigning to a default-constructed value would copy the envelope onto
    // that value's (default) memory resource.
    return one_pass_read{.error = std::nullopt,
                         .envelope = json::value(std::move(envelope_)),
                         .resource_count = count_,
                         .skipped_draft_orders = skipped_drafts_,
                         .needs_tree = false};
}

// The body through the whole-body tokenizer. A handler that stops wants the tree; a body the
// tokenizer declines goes to basic_parser, which has the last word on it.
one_pass_read read_whole_body(std::string_view body, unsigned max_depth, request_handler& handler) {
    json_tokenizer<request_handler> tokenizer(handler, max_depth);
    error_code ec;
    one_pass_read out;
    switch (tokenizer.read(body, ec)) {
        case tokenize_outcome::complete:
            if (!handler.needs_tree()) return handler.finish();
            out.needs_tree = true;
            return out;
        case tokenize_outcome::stopped:
            out.needs_tree = handler.needs_tree();
            out.declined = !out.needs_tree;
            return out;
        case tokenize_outcome::declined:
            break;
    }
    out.declined = true;
    return out;
}

}  // namespace

one_pass_read read_request_one_pass(std::string_view body,
                                    one_pass_limits limits,
                                    json::storage_ptr storage,
                                    std::span<unsigned char> scratch,
                                    rules::service_definition const& service,
                                    fhir::instant now,
                                    rules::hook_context& context,
                                    fhir::snapshot_builder& builder,
                                    body_tokenizer tokenizer) {
    begin_hook_context(service, now, context);
    reader_vectors_lease const vectors;
    if (tokenizer == body_tokenizer::whole_body) {
        request_handler handler(std::move(storage), body, scratch, context, builder, limits,
                                vectors.get());
        return read_whole_body(body, limits.max_depth, handler);
    }
    json::parse_options options;
    unsigned const max_depth = limits.max_depth;
    options.max_depth = max_depth;
    json::basic_parser<request_handler> parser(options, std::move(storage), body, scratch, context,
                                               builder, limits, vectors.get());
    // As stream_parser::write and finish do (parse_json_body), so that errors and the
    // position they are reported at are the same.
    one_pass_read out;
    error_code ec;
    std::size_t const consumed = parser.write_some(true, body.data(), body.size(), ec);
    if (!ec && consumed < body.size()) ec = json::error::extra_data;
    if (!ec) parser.write_some(false, nullptr, 0, ec);
    if (parser.handler().needs_tree()) {
        out.needs_tree = true;
        return out;
    }
    if (ec) {
        out.error = json_error_response(body, ec, consumed, max_depth);
        return out;
    }
    return parser.handler().finish();
}

http_response json_error_response(std::string_view body,
                                  error_code ec,
                                  std::size_t consumed,
                                  unsigned max_depth) {
    if (ec == json::error::too_deep) {
        return error_response(errc::json_too_deep, "the body nests JSON deeper than " +
                                                       std::to_string(max_depth) + " levels");
    }
    if (body.empty())
        return error_response(errc::malformed_json, "the body is empty; a JSON object is required");
    std::size_t const at = std::min(consumed, body.size());
    std::size_t const line =
        1 + static_cast<std::size_t>(
                std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    auto const last_newline = body.substr(0, at).rfind('\n');
    std::size_t const column =
        1 + (last_newline == std::string_view::npos ? at : at - last_newline - 1);
    return error_response(errc::malformed_json, "the body is not valid JSON: " + ec.message() +
                                                    " at line " + std::to_string(line) +
                                                    ", column " + std::to_string(column));
}

}  // namespace cds::service
