// The only translation unit that compiles the server's Boost.Beast code: listener -> session
// -> handle_request (STYLE.md practices 7, 8, 10, 11). One coroutine per connection, spawned
// on that connection's strand; error codes through every I/O step (as_tuple), never
// exceptions; a last-resort catch around the handler answers a generic 500.
//
// The session is a template over the stream (plain TCP or TLS over TCP), instantiated twice
// here and nowhere else. Every wait is bounded: the TLS handshake and the idle keep-alive wait
// by the transport's own timeout (which closes the socket), the reading of one request and
// the writing of one response by the connection's deadline timer (which answers 408, or
// resets a client that does not take its response).

#include "cds/service/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "cds/service/router.hpp"

namespace cds::service {

namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t read_chunk = 8192;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
template <class Stream>
inline constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// Mozilla's "intermediate" server profile (TLS 1.2 part): ECDHE key exchange for forward
// secrecy, AEAD ciphers only; no CBC, RSA key exchange, 3DES, RC4 or export suites.
constexpr char const* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char const* tls13_suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char const* tls_groups = "X25519:P-256:P-384";

void require_readable(std::string const& path, char const* what, char const* flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(std::string{"cannot read the TLS "} + what + " file '" + path + "' (" + flag +
                                 "): " + std::strerror(errno));
    }
}

std::unique_ptr<ssl::context> make_tls_context(tls_options const& tls) {
    if (tls.certificate_chain_file.empty() || tls.private_key_file.empty()) {
        throw std::runtime_error("HTTPS needs both --tls-cert and --tls-key");
    }
    require_readable(tls.certificate_chain_file, "certificate", "--tls-cert");
    require_readable(tls.private_key_file, "key", "--tls-key");

    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                         ssl::context::single_dh_use);
    SSL_CTX* native = context->native_handle();
    // Renegotiation has been a source of attacks (CVE-2009-3555, CVE-2011-1473 CPU
    // exhaustion); TLS 1.3 has none, and nothing here needs it in TLS 1.2.
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1 || SSL_CTX_set_ciphersuites(native, tls13_suites) != 1 ||
        SSL_CTX_set1_groups_list(native, tls_groups) != 1) {
        throw std::runtime_error("this OpenSSL does not support the TLS configuration (TLS 1.2+, ECDHE, AES-GCM)");
    }
    // An encrypted key would make OpenSSL prompt on the terminal of a service; refuse it instead.
    context->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string{}; });

    beast::error_code ec;
    context->use_certificate_chain_file(tls.certificate_chain_file, ec);
    if (ec) {
        throw std::runtime_error("the TLS certificate file '" + tls.certificate_chain_file +
                                 "' (--tls-cert) holds no usable PEM certificate chain: " + ec.message());
    }
    context->use_private_key_file(tls.private_key_file, ssl::context::pem, ec);
    if (ec) {
        throw std::runtime_error("the TLS key file '" + tls.private_key_file +
                                 "' (--tls-key) holds no usable unencrypted PEM private key: " + ec.message());
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        ERR_clear_error();
        throw std::runtime_error("the TLS key '" + tls.private_key_file + "' does not belong to the certificate '" +
                                 tls.certificate_chain_file + "'");
    }
    return context;
}

// A plain-HTTP request sent to the HTTPS port: OpenSSL recognises it during the handshake.
bool is_plain_http_request(beast::error_code const& ec) {
    return ec.category() == net::error::get_ssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

// What the connection's deadline timer is guarding.
enum class deadline_kind { none, read_request, write_response };

// The parts of a connection that the timers and the shutdown path use, whatever the stream.
// Touched only on the connection's strand: the session coroutine runs there, the timer's
// handler runs there (same executor) and the shutdown path posts there.
struct connection_base : std::enable_shared_from_this<connection_base> {
    explicit connection_base(net::any_io_executor const& executor) : deadline(executor) {}
    connection_base(connection_base const&) = delete;
    connection_base& operator=(connection_base const&) = delete;
    virtual ~connection_base() = default;
    [[nodiscard]] virtual beast::tcp_stream& transport() = 0;

    // Bounds reading one request and writing one response. Unlike tcp_stream's own timeout,
    // which closes the socket, on a read it only cancels, so that the client can still be
    // told 408; on a write it resets the connection (a client that does not read gets no
    // more of our buffers).
    net::steady_timer deadline;
    deadline_kind armed = deadline_kind::none;
    std::uint64_t generation = 0;  // an expiry queued for an earlier arming is ignored
    bool request_timed_out = false;
    bool write_timed_out = false;
    bool idle = false;  // waiting for the next request: shutdown may close it at once
};

template <class Stream>
struct connection final : connection_base {
    template <class... Extra>
    explicit connection(tcp::socket socket, Extra&... extra)
        : connection_base(socket.get_executor()), stream(std::move(socket), extra...) {}
    [[nodiscard]] beast::tcp_stream& transport() override { return beast::get_lowest_layer(stream); }
    Stream stream;
};

void arm_deadline(connection_base& target, deadline_kind kind, std::chrono::milliseconds timeout) {
    std::shared_ptr<connection_base> conn = target.shared_from_this();
    conn->armed = kind;
    std::uint64_t const generation = ++conn->generation;
    if (kind == deadline_kind::read_request) conn->request_timed_out = false;
    if (kind == deadline_kind::write_response) conn->write_timed_out = false;
    conn->deadline.expires_after(timeout);
    // Holds the connection only until the timer fires or is cancelled by disarm_deadline.
    conn->deadline.async_wait([conn, kind, generation](beast::error_code const& ec) {
        if (ec || conn->armed != kind || conn->generation != generation) return;
        conn->armed = deadline_kind::none;
        beast::error_code ignored;
        if (kind == deadline_kind::read_request) {
            conn->request_timed_out = true;
            conn->transport().cancel();
        } else {
            conn->write_timed_out = true;
            // A reset rather than a FIN: the kernel drops what the client never read instead
            // of holding it for a client that may never read.
            conn->transport().socket().set_option(net::socket_base::linger(true, 0), ignored);
            conn->transport().close();
        }
    });
}

void disarm_deadline(connection_base& conn) {
    conn.armed = deadline_kind::none;
    ++conn.generation;
    conn.deadline.cancel();
}

std::string printable(std::string_view text, std::size_t limit) {
    std::string out;
    for (char c : text.substr(0, limit)) out += (c > 0x20 && c < 0x7f) ? c : '?';
    return out;
}

// One line per request: method, route template, status, duration, service id, card count.
// Never the raw path, a header, the body, a token or anything about the patient.
void log_request(std::string_view method, http_response const& response, std::chrono::steady_clock::duration took) {
    auto const ms = std::chrono::duration<double, std::milli>(took).count();
    std::string extra;
    if (!response.log.service_id.empty()) extra += " service=" + response.log.service_id;
    if (response.log.card_count >= 0) extra += " cards=" + std::to_string(response.log.card_count);
    if (!response.log.note.empty()) extra += " (" + response.log.note + ")";
    spdlog::info("{} {} {} {:.3f}ms{}", printable(method, 16), response.log.route, response.status, ms, extra);
}

// Maps a read error to the answer the client gets, or nothing when the connection is simply
// gone (closed or reset by the client).
std::optional<errc> answer_for_read_error(beast::error_code const& ec) {
    if (ec == http::error::header_limit) return errc::headers_too_large;
    if (ec == http::error::body_limit) return errc::body_too_large;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) return errc::malformed_http;
    return std::nullopt;
}

std::string read_error_diagnostics(errc code, service_limits const& limits) {
    switch (code) {
    case errc::headers_too_large:
        return "the request line and headers exceed " + std::to_string(limits.max_header_bytes) + " bytes";
    case errc::body_too_large:
        return "the request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes";
    case errc::request_timeout:
        return "the request did not arrive within " + std::to_string(limits.read_timeout.count()) + " ms";
    default:
        return "the request could not be parsed as HTTP/1.1";
    }
}

class server {
public:
    server(server_options const& options, std::shared_ptr<service_state const> state)
        : options_{options},
          state_{std::move(state)},
          tls_context_{options.tls ? make_tls_context(*options.tls) : nullptr},
          io_{static_cast<int>(std::max(1U, options.threads))},
          acceptor_{net::make_strand(io_)} {}

    int run(std::function<void(listen_address const&)> const& on_listening) {
        listen();
        auto const bound = acceptor_.local_endpoint();
        on_listening(listen_address{bound.address().to_string(), bound.port()});

        net::signal_set signals(io_, SIGINT, SIGTERM);
        signals.async_wait([this](beast::error_code const& ec, int signal_number) {
            if (ec) return;
            spdlog::info("signal {}: no new connections; finishing requests in flight", signal_number);
            begin_shutdown();
        });
        net::co_spawn(acceptor_.get_executor(), accept_loop(), [](std::exception_ptr e) {
            if (e) spdlog::critical("the accept loop ended by an exception");
        });

        unsigned const threads = std::max(1U, options_.threads);
        std::vector<std::thread> pool;
        pool.reserve(threads - 1);
        for (unsigned i = 1; i < threads; ++i) pool.emplace_back([this] { run_io(); });
        run_io();
        for (auto& t : pool) t.join();
        spdlog::info("stopped");
        return 0;
    }

private:
    void listen() {
        beast::error_code ec;
        tcp::resolver resolver(io_);
        auto const endpoints = resolver.resolve(options_.listen.host, std::to_string(options_.listen.port),
                                                tcp::resolver::numeric_service, ec);
        if (ec || endpoints.empty()) {
            throw std::runtime_error("cannot resolve listen host '" + options_.listen.host + "': " + ec.message());
        }
        tcp::endpoint const endpoint = *endpoints.begin();
        auto check = [&](char const* what) {
            if (ec) {
                throw std::runtime_error(std::string{"cannot listen on "} + options_.listen.host + ":" +
                                         std::to_string(options_.listen.port) + " (" + what + "): " + ec.message());
            }
        };
        acceptor_.open(endpoint.protocol(), ec);
        check("open");
        acceptor_.set_option(net::socket_base::reuse_address(true), ec);
        check("reuse_address");
        acceptor_.bind(endpoint, ec);
        check("bind");
        acceptor_.listen(net::socket_base::max_listen_connections, ec);
        check("listen");
    }

    void run_io() {
        // A handler that throws is a bug; it is logged and the thread keeps serving.
        for (;;) {
            try {
                io_.run();
                return;
            } catch (std::exception const& e) {
                spdlog::error("unexpected exception in the I/O loop: {}", e.what());
            } catch (...) {
                spdlog::error("unexpected exception in the I/O loop");
            }
        }
    }

    template <class Stream>
    std::shared_ptr<connection<Stream>> make_connection(tcp::socket socket) {
        if constexpr (is_tls<Stream>) {
            return std::make_shared<connection<Stream>>(std::move(socket), *tls_context_);
        } else {
            return std::make_shared<connection<Stream>>(std::move(socket));
        }
    }

    net::awaitable<void> accept_loop() {
        for (;;) {
            tcp::socket socket(net::make_strand(io_));
            auto [ec] = co_await acceptor_.async_accept(socket, use_tuple);
            if (stopping_.load() || !acceptor_.is_open()) co_return;
            if (ec) {
                if (ec == net::error::operation_aborted) co_return;
                // Out of file descriptors and the like: back off rather than spin.
                spdlog::warn("accept failed: {}", ec.message());
                net::steady_timer pause(acceptor_.get_executor(), 50ms);
                co_await pause.async_wait(use_tuple);
                continue;
            }
            if (tls_context_) {
                admit<tls_stream>(std::move(socket));
            } else {
                admit<plain_stream>(std::move(socket));
            }
        }
    }

    template <class Stream>
    void admit(tcp::socket socket) {
        if (active_.load() >= state_->limits.max_connections) {
            // Answer 503 while that is cheap; beyond twice the limit, just close.
            if (rejecting_.load() < state_->limits.max_connections) {
                ++rejecting_;
                auto conn = make_connection<Stream>(std::move(socket));
                auto executor = conn->transport().get_executor();
                net::co_spawn(executor, reject_busy(std::move(conn)), [this](std::exception_ptr) { --rejecting_; });
            }
            return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        ++active_;
        auto conn = make_connection<Stream>(std::move(socket));
        std::uint64_t const id = ++next_connection_id_;
        {
            std::lock_guard lock(connections_mutex_);
            connections_.emplace(id, conn);
        }
        auto executor = conn->transport().get_executor();
        net::co_spawn(executor, session(std::move(conn)), [this, id](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    spdlog::error("connection ended by an unexpected exception: {}", ex.what());
                } catch (...) {
                    spdlog::error("connection ended by an unexpected exception");
                }
            }
            {
                std::lock_guard lock(connections_mutex_);
                connections_.erase(id);
            }
            --active_;
        });
    }

    // The TLS handshake, bounded by the handshake timeout. A client that speaks plain HTTP
    // to the HTTPS port is told so in plain HTTP (as nginx does) rather than left guessing.
    template <class Stream>
    net::awaitable<bool> handshake(std::shared_ptr<connection<Stream>> const& conn) {
        auto& transport = conn->transport();
        transport.expires_after(options_.tls->handshake_timeout);
        auto [ec] = co_await conn->stream.async_handshake(ssl::stream_base::server, use_tuple);
        transport.expires_never();
        if (!ec) co_return true;
        if (is_plain_http_request(ec)) {
            auto response = error_response(errc::malformed_http,
                                           "this port serves HTTPS only; the request was sent as plain HTTP");
            apply_cors(response, {}, state_->cors);
            auto const started = std::chrono::steady_clock::now();
            bool const written = co_await write(*conn, transport, response, 11, true);
            log_request("-", response, std::chrono::steady_clock::now() - started);
            if (written) co_await linger_close(*conn);
        } else {
            // Scanners and clients that offer only old protocols or ciphers end here; one line
            // each at debug level, never the bytes they sent.
            spdlog::debug("TLS handshake failed: {}", ec.message());
        }
        co_return false;
    }

    template <class Stream>
    net::awaitable<void> session(std::shared_ptr<connection<Stream>> conn) {
        auto& stream = conn->stream;
        auto& transport = conn->transport();
        auto const& limits = state_->limits;
        if constexpr (is_tls<Stream>) {
            if (!co_await handshake(conn)) {
                beast::error_code ignored;
                transport.socket().close(ignored);
                co_return;
            }
        }
        beast::flat_buffer buffer;
        for (;;) {
            if (stopping_.load()) break;
            if (buffer.size() == 0) {
                // Between requests: the idle keep-alive timeout applies, and shutdown may end it.
                conn->idle = true;
                transport.expires_after(limits.idle_timeout);
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(read_chunk), use_tuple);
                transport.expires_never();
                conn->idle = false;
                if (ec) break;
                buffer.commit(n);
            }

            // One request: header and body within read_timeout, each within its size limit.
            arm_deadline(*conn, deadline_kind::read_request, limits.read_timeout);
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(
                std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
            parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
            auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (header_ec) {
                disarm_deadline(*conn);
                if (auto answer = read_failure(*conn, header_ec)) {
                    co_await answer_and_close(conn, *answer, read_error_diagnostics(*answer, limits));
                }
                break;
            }
            // Refuse an oversized body before reading it.
            if (auto const length = parser.content_length(); length && *length > limits.max_body_bytes) {
                disarm_deadline(*conn);
                co_await answer_and_close(conn, errc::body_too_large,
                                          read_error_diagnostics(errc::body_too_large, limits));
                break;
            }
            if (iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
                arm_deadline(*conn, deadline_kind::write_response, limits.write_timeout);
                auto [continue_ec, continue_n] = co_await http::async_write(stream, go_on, use_tuple);
                arm_deadline(*conn, deadline_kind::read_request, limits.read_timeout);
                if (continue_ec) break;
            }
            if (!parser.is_done()) {
                auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
                if (body_ec) {
                    disarm_deadline(*conn);
                    if (auto answer = read_failure(*conn, body_ec)) {
                        co_await answer_and_close(conn, *answer, read_error_diagnostics(*answer, limits));
                    }
                    break;
                }
            }

            disarm_deadline(*conn);
            auto message = parser.release();
            http_request request;
            request.method = std::string{message.method_string()};
            request.target = std::string{message.target()};
            request.headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
            for (auto const& field : message) {
                request.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
            }
            request.body = std::move(message.body());
            request.received_at =
                std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
            std::string const method = request.method;
            std::string const origin{request.header("Origin")};
            bool const keep_alive = message.keep_alive();
            unsigned const version = message.version();

            auto const started = std::chrono::steady_clock::now();
            http_response response;
            bool failed = false;
            try {
                response = co_await handle_request(std::move(request), *state_);
            } catch (std::exception const& e) {
                // The last-resort catch (STYLE.md practice 12): a bug, never the client's fault,
                // and never its text in the response. The message is kept out of the info log
                // since it may quote data.
                spdlog::debug("handler exception: {}", e.what());
                failed = true;
            } catch (...) {
                failed = true;
            }
            if (failed) {
                spdlog::error("internal error while handling a request");
                response = error_response(errc::internal_error, "the service failed to process the request");
                apply_cors(response, origin, state_->cors);
            }
            bool const close = !keep_alive || response.close || stopping_.load();
            bool const written = co_await write(*conn, stream, response, version, close);
            log_request(method, response, std::chrono::steady_clock::now() - started);
            if (!written) break;
            if (close) {
                co_await close_after_response(*conn);
                break;
            }
        }
        disarm_deadline(*conn);
        beast::error_code ignored;
        transport.socket().close(ignored);
    }

    // The answer for a failed read, or nothing when there is no one left to answer.
    static std::optional<errc> read_failure(connection_base const& conn, beast::error_code const& ec) {
        if (conn.request_timed_out) return errc::request_timeout;
        return answer_for_read_error(ec);
    }

    // Writes one response within the write timeout. `stream` is conn's stream, or its
    // transport when a plain answer goes to the HTTPS port.
    template <class Stream>
    net::awaitable<bool> write(connection_base& conn, Stream& stream, http_response& response, unsigned version,
                               bool close) {
        http::response<http::string_body> out;
        out.version(version);
        out.result(static_cast<unsigned>(response.status));
        if (!response.content_type.empty()) out.set(http::field::content_type, response.content_type);
        for (auto const& [name, value] : response.headers) out.set(name, value);
        out.body() = std::move(response.body);
        out.keep_alive(!close);
        out.prepare_payload();
        auto const timeout = state_->limits.write_timeout;
        arm_deadline(conn, deadline_kind::write_response, timeout);
        auto [ec, n] = co_await http::async_write(stream, out, use_tuple);
        disarm_deadline(conn);
        if (conn.write_timed_out) {
            spdlog::warn("{} {}: the client did not take the response within {} ms; connection reset",
                         response.log.route, response.status, timeout.count());
        }
        co_return !ec;
    }

    // Answers an error found while reading, then closes without resetting: the client may
    // still be sending the body we refused, and a close with unread data would make its
    // kernel drop our answer (RFC 9112 §9.6).
    template <class Stream>
    net::awaitable<void> answer_and_close(std::shared_ptr<connection<Stream>> const& conn, errc code,
                                          std::string const& diagnostics) {
        auto const started = std::chrono::steady_clock::now();
        auto response = error_response(code, diagnostics);
        apply_cors(response, {}, state_->cors);
        bool const written = co_await write(*conn, conn->stream, response, 11, true);
        log_request("-", response, std::chrono::steady_clock::now() - started);
        if (written) co_await linger_close(*conn);
    }

    // Lingering close on the transport (below TLS: what still arrives is discarded unread).
    net::awaitable<void> linger_close(connection_base& conn) {
        auto& transport = conn.transport();
        beast::error_code ignored;
        transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
        transport.expires_after(options_.linger_timeout);
        std::array<char, 16384> discard{};
        for (;;) {
            auto [ec, n] = co_await transport.async_read_some(net::buffer(discard), use_tuple);
            if (ec) break;
        }
        transport.socket().close(ignored);
    }

    // After a response sent with `Connection: close`. Over TLS a close_notify goes first
    // (RFC 8446 §6.1), so the client can tell the end from a truncation; waiting for the
    // client's own close_notify is bounded by the linger timeout.
    template <class Stream>
    net::awaitable<void> close_after_response(connection<Stream>& conn) {
        auto& transport = conn.transport();
        if constexpr (is_tls<Stream>) {
            transport.expires_after(options_.linger_timeout);
            co_await conn.stream.async_shutdown(use_tuple);  // any error: the socket closes anyway
            transport.expires_never();
        }
        beast::error_code ignored;
        transport.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    template <class Stream>
    net::awaitable<void> reject_busy(std::shared_ptr<connection<Stream>> conn) {
        if constexpr (is_tls<Stream>) {
            if (!co_await handshake(conn)) co_return;
        }
        auto response = error_response(errc::too_many_connections,
                                       "the service is at its limit of " +
                                           std::to_string(state_->limits.max_connections) +
                                           " concurrent connections; retry shortly");
        response.set_header("Retry-After", "1");
        apply_cors(response, {}, state_->cors);
        auto const started = std::chrono::steady_clock::now();
        bool const written = co_await write(*conn, conn->stream, response, 11, true);
        log_request("-", response, std::chrono::steady_clock::now() - started);
        if (written) co_await linger_close(*conn);
        disarm_deadline(*conn);
    }

    void begin_shutdown() {
        if (stopping_.exchange(true)) return;
        net::post(acceptor_.get_executor(), [this] {
            beast::error_code ignored;
            acceptor_.close(ignored);
        });
        std::vector<std::shared_ptr<connection_base>> live;
        {
            std::lock_guard lock(connections_mutex_);
            for (auto const& [id, weak] : connections_) {
                if (auto c = weak.lock()) live.push_back(std::move(c));
            }
        }
        // Idle keep-alive connections close now; busy ones finish their response (sent with
        // Connection: close) and then close. stopping_ is set before these posts run, so a
        // session that goes idle afterwards sees it on the same strand.
        for (auto& c : live) {
            net::post(c->transport().get_executor(), [c] {
                if (c->idle) c->transport().cancel();
            });
        }
        net::co_spawn(io_, drain(), net::detached);
    }

    net::awaitable<void> drain() {
        auto const deadline = std::chrono::steady_clock::now() + options_.shutdown_timeout;
        net::steady_timer timer(co_await net::this_coro::executor);
        while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
            timer.expires_after(20ms);
            co_await timer.async_wait(use_tuple);
        }
        if (active_.load() > 0) {
            spdlog::warn("{} connections still busy after the shutdown timeout; stopping anyway", active_.load());
        }
        // Stopping (rather than waiting for the io_context to run dry) also ends whatever
        // background work other components keep, such as pooled FHIR-client connections.
        io_.stop();
    }

    server_options options_;
    std::shared_ptr<service_state const> state_;
    std::unique_ptr<ssl::context> tls_context_;  // null: plain HTTP
    net::io_context io_;
    tcp::acceptor acceptor_;  // used only on its strand
    std::atomic<std::size_t> active_{0};     // sessions running
    std::atomic<std::size_t> rejecting_{0};  // 503 answers in progress
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> next_connection_id_{0};
    std::mutex connections_mutex_;  // guards connections_ (the shutdown path reads it)
    std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections_;
};

}  // namespace

void check_tls_files(tls_options const& tls) { (void)make_tls_context(tls); }

int run_server(server_options const& options, std::shared_ptr<service_state const> state,
               std::function<void(listen_address const&)> const& on_listening) {
    if (!state || !state->schemas) throw std::invalid_argument("run_server needs a service state");
    server s(options, std::move(state));
    return s.run(on_listening);
}

}  // namespace cds::service
