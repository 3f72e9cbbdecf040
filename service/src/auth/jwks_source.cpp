#include <cds/service/auth/jwks_source.hpp>

#include <fstream>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <cds/service/auth/jwk.hpp>

namespace cds::service::auth {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

file_jwks_source::file_jwks_source(std::filesystem::path path)
    : path_(std::move(path)), location_(path_.string()) {}

jwks_fetch_result file_jwks_source::fetch() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
        return {std::nullopt, "cannot open " + location_};
    }
    std::string body;
    char chunk[4096];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        body.append(chunk, static_cast<std::size_t>(in.gcount()));
        if (body.size() > max_jwks_bytes) {
            return {std::nullopt,
                    location_ + " is larger than " + std::to_string(max_jwks_bytes) + " bytes"};
        }
    }
    if (in.bad()) {
        return {std::nullopt, "cannot read " + location_};
    }
    return {std::move(body), {}};
}

namespace {

constexpr std::size_t max_response_header_bytes = 16 * 1024;

struct endpoint {
    std::string host;  // DNS name or IP literal without brackets
    bool host_is_ip = false;
    std::string port;
    std::string host_header;
    std::string target;
};

// The name (SNI and certificate host name) or address the server's certificate must show.
// Returns why it could not be set, or nothing.
std::string expect_peer_identity(SSL* ssl_handle, endpoint const& where) {
    if (where.host_is_ip) {
        // RFC 6066 §3: no SNI for address literals; the certificate must name the address.
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), where.host.c_str()) != 1) {
            ERR_clear_error();
            return "cannot set the expected IP address";
        }
    } else if (SSL_set_tlsext_host_name(ssl_handle, where.host.c_str()) != 1 ||
               SSL_set1_host(ssl_handle, where.host.c_str()) != 1) {
        ERR_clear_error();
        return "cannot set the expected host name";
    }
    return {};
}

// Why the TLS handshake failed, with the certificate check's verdict when that was the cause.
std::string handshake_failure(SSL* ssl_handle,
                              endpoint const& where,
                              beast::error_code const& handshake_ec) {
    long const verify = SSL_get_verify_result(ssl_handle);
    std::string error = "TLS handshake with " + where.host + " failed: " + handshake_ec.message();
    if (verify != X509_V_OK) {
        error += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    ERR_clear_error();
    return error;
}

net::awaitable<void> fetch_once(endpoint const& where, ssl::context& tls, jwks_fetch_result& out) {
    auto executor = co_await net::this_coro::executor;
    auto const use = net::as_tuple(net::use_awaitable);

    tcp::resolver resolver(executor);
    auto [resolve_ec, endpoints] = co_await resolver.async_resolve(where.host, where.port, use);
    if (resolve_ec) {
        out.error = "cannot resolve " + where.host + ": " + resolve_ec.message();
        co_return;
    }

    beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
    SSL* ssl_handle = stream.native_handle();
    if (auto why = expect_peer_identity(ssl_handle, where); !why.empty()) {
        out.error = std::move(why);
        co_return;
    }

    auto [connect_ec, connected] =
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, use);
    (void)connected;
    if (connect_ec) {
        out.error =
            "cannot connect to " + where.host + ":" + where.port + ": " + connect_ec.message();
        co_return;
    }
    auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, use);
    if (handshake_ec) {
        out.error = handshake_failure(ssl_handle, where, handshake_ec);
        co_return;
    }

    http::request<http::empty_body> request{http::verb::get, where.target, 11};
    request.set(http::field::host, where.host_header);
    request.set(http::field::user_agent, "magnesium-cds");
    request.set(http::field::accept, "application/jwk-set+json, application/json");
    request.set(http::field::connection, "close");
    auto [write_ec, written] = co_await http::async_write(stream, request, use);
    (void)written;
    if (write_ec) {
        out.error = "cannot send the request: " + write_ec.message();
        co_return;
    }

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(max_response_header_bytes);
    parser.body_limit(max_jwks_bytes);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use);
    (void)read;
    if (read_ec) {
        out.error = "cannot read the response: " + read_ec.message();
        co_return;
    }
    auto response = parser.release();
    if (response.result() != http::status::ok) {
        // Redirects are not followed: the configured URL is the one trusted.
        out.error = "HTTP status " + std::to_string(response.result_int());
        co_return;
    }
    out.body = std::move(response.body());
    // The connection is dropped without a TLS close_notify exchange: the whole body has been
    // read, and waiting for a peer's shutdown would only spend the timeout.
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
}

endpoint parse_https_url(std::string const& url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        throw std::invalid_argument("JWKS URL is not an absolute URL: " + url);
    }
    boost::urls::url_view const& u = *parsed;
    if (u.scheme_id() != boost::urls::scheme::https) {
        throw std::invalid_argument("JWKS URL must use https: " + url);
    }
    if (u.has_userinfo() || u.has_fragment() || u.host_address().empty()) {
        throw std::invalid_argument("JWKS URL needs a host and no user info or fragment: " + url);
    }
    endpoint where;
    where.host = u.host_address();
    where.host_is_ip = u.host_type() == boost::urls::host_type::ipv4 ||
                       u.host_type() == boost::urls::host_type::ipv6;
    where.port = u.has_port() ? std::string(u.port()) : "443";
    if (where.port.empty()) {
        where.port = "443";
    }
    where.host_header = std::string(u.encoded_host_and_port());
    where.target = std::string(u.encoded_target());
    if (where.target.empty()) {
        where.target = "/";
    }
    return where;
}

}  // namespace

struct https_jwks_source::impl {
    endpoint where;
    https_jwks_options options;
    ssl::context tls{ssl::context::tls_client};
};

https_jwks_source::https_jwks_source(std::string url, https_jwks_options options)
    : url_(std::move(url)), impl_(std::make_unique<impl>()) {
    impl_->where = parse_https_url(url_);
    impl_->options = std::move(options);
    SSL_CTX* context = impl_->tls.native_handle();
    if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) {
        throw std::runtime_error("cannot require TLS 1.2");
    }
    impl_->tls.set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (impl_->options.ca_file.empty()) {
        impl_->tls.set_default_verify_paths(ec);
    } else {
        impl_->tls.load_verify_file(impl_->options.ca_file, ec);
    }
    ERR_clear_error();
    if (ec) {
        throw std::invalid_argument("cannot load CA certificates" +
                                    (impl_->options.ca_file.empty()
                                         ? std::string(" (system default)")
                                         : " from " + impl_->options.ca_file) +
                                    ": " + ec.message());
    }
}

https_jwks_source::~https_jwks_source() = default;

jwks_fetch_result https_jwks_source::fetch() {
    jwks_fetch_result result;
    bool finished = false;
    {
        // A private io_context per fetch: the caller's thread runs it to completion or to the
        // deadline, so the fetch never depends on the server's own io_context. It holds that
        // thread meanwhile: in the server, a thread of jwt_request_authenticator's own.
        net::io_context context(1);
        net::co_spawn(context, fetch_once(impl_->where, impl_->tls, result),
                      [&finished, &result](std::exception_ptr error) {
                          finished = true;
                          if (error) {
                              result.body.reset();
                              result.error = "internal error while fetching";
                          }
                      });
        context.run_for(impl_->options.timeout);
        if (!finished) {
            result.body.reset();
            result.error =
                "timed out after " + std::to_string(impl_->options.timeout.count()) + " ms";
        }
        // Destroying the context here destroys the unfinished coroutine and closes its
        // socket, before `result` is returned.
    }
    ERR_clear_error();
    if (!result.body && result.error.empty()) {
        result.error = "no response";
    }
    if (!result.body) {
        result.error = url_ + ": " + result.error;
    }
    return result;
}

std::unique_ptr<jwks_source> make_jwks_source(std::string const& location,
                                              https_jwks_options const& options) {
    if (location.rfind("https://", 0) == 0) {
        return std::make_unique<https_jwks_source>(location, options);
    }
    if (location.rfind("http://", 0) == 0) {
        throw std::invalid_argument(
            "JWKS URL must use https (keys fetched in clear text could "
            "be replaced on the way): " +
            location);
    }
    if (location.empty()) {
        throw std::invalid_argument("empty JWKS location");
    }
    return std::make_unique<file_jwks_source>(location);
}

}  // namespace cds::service::auth
