#pragma once
// A request body read into a std::string, as Beast's http::string_body reads it, but appended
// rather than resized: string_body's reader grows the string with resize() and then copies
// over it, so every body byte is first zeroed and then written (a memset and a memcpy of the
// whole body; for a 67 KB order-sign the memset alone was 1.5 % of the server's CPU). Here
// the announced length is reserved once and each piece is appended, written once.

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

namespace cds::service {

struct request_body {
    using value_type = std::string;

    static std::uint64_t size(value_type const& body) { return body.size(); }

    // The BodyReader that Beast's parser feeds (Beast 1.81, "BodyReader" concept).
    class reader {
    public:
        template <bool is_request, class Fields>
        reader(boost::beast::http::header<is_request, Fields>&, value_type& body) : body_(body) {}

        void init(boost::optional<std::uint64_t> const& length, boost::beast::error_code& ec) {
            if (length) {
                if (*length > body_.max_size()) {
                    ec = boost::beast::http::error::buffer_overflow;
                    return;
                }
                body_.reserve(static_cast<std::size_t>(*length));
            }
            ec = {};
        }

        template <class ConstBufferSequence>
        std::size_t put(ConstBufferSequence const& buffers, boost::beast::error_code& ec) {
            std::size_t taken = 0;
            for (auto const buffer : boost::beast::buffers_range_ref(buffers)) {
                if (buffer.size() > body_.max_size() - body_.size()) {
                    ec = boost::beast::http::error::buffer_overflow;
                    return taken;
                }
                body_.append(static_cast<char const*>(buffer.data()), buffer.size());
                taken += buffer.size();
            }
            ec = {};
            return taken;
        }

        void finish(boost::beast::error_code& ec) { ec = {}; }

    private:
        value_type& body_;
    };
};

}  // namespace cds::service
