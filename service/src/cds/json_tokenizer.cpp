#include "cds/service/cds/json_tokenizer.hpp"

#include <cstddef>
#include <cstdint>

#include <boost/json/string_view.hpp>

namespace cds::service {
namespace {

// Takes every event and keeps nothing.
class discarding_handler {
public:
    using error_code = boost::system::error_code;
    using text = boost::json::string_view;

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) { return true; }
    bool on_object_end(std::size_t, error_code&) { return true; }
    bool on_array_begin(error_code&) { return true; }
    bool on_array_end(std::size_t, error_code&) { return true; }
    bool on_key_part(text, std::size_t, error_code&) { return true; }
    bool on_key(text, std::size_t, error_code&) { return true; }
    bool on_string_part(text, std::size_t, error_code&) { return true; }
    bool on_string(text, std::size_t, error_code&) { return true; }
    bool on_number_part(text, error_code&) { return true; }
    bool on_int64(std::int64_t, text, error_code&) { return true; }
    bool on_uint64(std::uint64_t, text, error_code&) { return true; }
    bool on_double(double, text, error_code&) { return true; }
    bool on_bool(bool, error_code&) { return true; }
    bool on_null(error_code&) { return true; }
    bool on_comment_part(text, error_code&) { return true; }
    bool on_comment(text, error_code&) { return true; }
    [[nodiscard]] bool reads_next_value() const { return false; }
    value_read_outcome read_next_value(char const*&, char const*, std::size_t, error_code&) {
        return value_read_outcome::declined;
    }
};

}  // namespace

bool tokenizes_whole(std::string_view text, unsigned max_depth) {
    discarding_handler handler;
    json_tokenizer<discarding_handler> tokenizer(handler, max_depth);
    boost::system::error_code ec;
    return tokenizer.read(text, ec) == tokenize_outcome::complete;
}

}  // namespace cds::service
