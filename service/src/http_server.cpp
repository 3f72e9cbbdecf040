// The only translation unit that compiles Boost.Beast: listener -> session -> handle_request
// (STYLE.md practices 7, 8, 10, 11). One coroutine per connection, spawned on that
// connection's strand; error codes through every I/O step (as_tuple), never exceptions; a
// last-resort catch around the handler answers a generic 500.

#include "cds/service/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "cds/service/router.hpp"

namespace cds::service {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t read_chunk = 8192;

// One accepted connection. Touched only on its strand: the session coroutine runs there and
// the shutdown path posts there.
struct connection {
    explicit connection(tcp::socket socket) : stream(std::move(socket)), request_timer(stream.get_executor()) {}
    beast::tcp_stream stream;
    // Bounds the reading of one request. Unlike tcp_stream's own timeout, which closes the
    // socket, it only cancels the read, so that the client can still be told 408.
    net::steady_timer request_timer;
    bool reading_request = false;  // the timer only acts while this is true
    bool request_timed_out = false;
    bool idle = false;  // waiting for the next request: shutdown may close it at once
};

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
            if (active_.load() >= state_->limits.max_connections) {
                // Answer 503 while that is cheap; beyond twice the limit, just close.
                if (rejecting_.load() < state_->limits.max_connections) {
                    ++rejecting_;
                    auto executor = socket.get_executor();
                    net::co_spawn(executor, reject_busy(std::move(socket)), [this](std::exception_ptr) { --rejecting_; });
                }
                continue;
            }
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            ++active_;
            auto conn = std::make_shared<connection>(std::move(socket));
            std::uint64_t const id = ++next_connection_id_;
            {
                std::lock_guard lock(connections_mutex_);
                connections_.emplace(id, conn);
            }
            net::co_spawn(conn->stream.get_executor(), session(conn), [this, id](std::exception_ptr e) {
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
    }

    net::awaitable<void> session(std::shared_ptr<connection> conn) {
        auto& stream = conn->stream;
        auto const& limits = state_->limits;
        beast::flat_buffer buffer;
        for (;;) {
            if (stopping_.load()) break;
            if (buffer.size() == 0) {
                // Between requests: the idle keep-alive timeout applies, and shutdown may end it.
                conn->idle = true;
                stream.expires_after(limits.idle_timeout);
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(read_chunk), use_tuple);
                conn->idle = false;
                if (ec) break;
                buffer.commit(n);
            }

            // One request: header and body within read_timeout, each within its size limit.
            stream.expires_never();
            start_request_timer(conn, limits.read_timeout);
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(
                std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
            parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
            auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (header_ec) {
                stop_request_timer(*conn);
                if (auto answer = read_failure(*conn, header_ec)) {
                    co_await answer_and_close(stream, *answer, read_error_diagnostics(*answer, limits));
                }
                break;
            }
            // Refuse an oversized body before reading it.
            if (auto const length = parser.content_length(); length && *length > limits.max_body_bytes) {
                stop_request_timer(*conn);
                co_await answer_and_close(stream, errc::body_too_large,
                                          read_error_diagnostics(errc::body_too_large, limits));
                break;
            }
            if (iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
                stream.expires_after(limits.write_timeout);
                auto [continue_ec, continue_n] = co_await http::async_write(stream, go_on, use_tuple);
                stream.expires_never();
                if (continue_ec) break;
            }
            if (!parser.is_done()) {
                auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
                if (body_ec) {
                    stop_request_timer(*conn);
                    if (auto answer = read_failure(*conn, body_ec)) {
                        co_await answer_and_close(stream, *answer, read_error_diagnostics(*answer, limits));
                    }
                    break;
                }
            }

            stop_request_timer(*conn);
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
            bool const written = co_await write(stream, response, version, close);
            log_request(method, response, std::chrono::steady_clock::now() - started);
            if (!written) break;
            if (close) {
                beast::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                break;
            }
        }
        stop_request_timer(*conn);
        beast::error_code ignored;
        stream.socket().close(ignored);
    }

    static void start_request_timer(std::shared_ptr<connection> const& conn, std::chrono::milliseconds timeout) {
        conn->reading_request = true;
        conn->request_timed_out = false;
        conn->request_timer.expires_after(timeout);
        // Runs on the connection's strand (the timer's executor); holds the connection only
        // until it fires or is cancelled at the end of the read.
        conn->request_timer.async_wait([conn](beast::error_code const& ec) {
            // An expiry already queued when the read finished must not cancel what follows.
            if (ec || !conn->reading_request) return;
            conn->request_timed_out = true;
            conn->stream.cancel();
        });
    }

    static void stop_request_timer(connection& conn) {
        conn.reading_request = false;
        conn.request_timer.cancel();
    }

    // The answer for a failed read, or nothing when there is no one left to answer.
    static std::optional<errc> read_failure(connection const& conn, beast::error_code const& ec) {
        if (conn.request_timed_out) return errc::request_timeout;
        return answer_for_read_error(ec);
    }

    net::awaitable<bool> write(beast::tcp_stream& stream, http_response& response, unsigned version, bool close) {
        http::response<http::string_body> out;
        out.version(version);
        out.result(static_cast<unsigned>(response.status));
        if (!response.content_type.empty()) out.set(http::field::content_type, response.content_type);
        for (auto const& [name, value] : response.headers) out.set(name, value);
        out.body() = std::move(response.body);
        out.keep_alive(!close);
        out.prepare_payload();
        stream.expires_after(state_->limits.write_timeout);
        auto [ec, n] = co_await http::async_write(stream, out, use_tuple);
        co_return !ec;
    }

    // Answers an error found while reading, then closes without resetting: the client may
    // still be sending the body we refused, and a close with unread data would make its
    // kernel drop our answer (RFC 9112 §9.6).
    net::awaitable<void> answer_and_close(beast::tcp_stream& stream, errc code, std::string const& diagnostics) {
        auto const started = std::chrono::steady_clock::now();
        auto response = error_response(code, diagnostics);
        apply_cors(response, {}, state_->cors);
        bool const written = co_await write(stream, response, 11, true);
        log_request("-", response, std::chrono::steady_clock::now() - started);
        if (written) co_await linger_close(stream);
    }

    net::awaitable<void> linger_close(beast::tcp_stream& stream) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(options_.linger_timeout);
        std::array<char, 16384> discard{};
        for (;;) {
            auto [ec, n] = co_await stream.async_read_some(net::buffer(discard), use_tuple);
            if (ec) break;
        }
        stream.socket().close(ignored);
    }

    net::awaitable<void> reject_busy(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        auto response = error_response(errc::too_many_connections,
                                       "the service is at its limit of " +
                                           std::to_string(state_->limits.max_connections) +
                                           " concurrent connections; retry shortly");
        response.set_header("Retry-After", "1");
        apply_cors(response, {}, state_->cors);
        auto const started = std::chrono::steady_clock::now();
        bool const written = co_await write(stream, response, 11, true);
        log_request("-", response, std::chrono::steady_clock::now() - started);
        if (written) co_await linger_close(stream);
    }

    void begin_shutdown() {
        if (stopping_.exchange(true)) return;
        net::post(acceptor_.get_executor(), [this] {
            beast::error_code ignored;
            acceptor_.close(ignored);
        });
        std::vector<std::shared_ptr<connection>> live;
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
            net::post(c->stream.get_executor(), [c] {
                if (c->idle) c->stream.cancel();
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
    net::io_context io_;
    tcp::acceptor acceptor_;  // used only on its strand
    std::atomic<std::size_t> active_{0};     // sessions running
    std::atomic<std::size_t> rejecting_{0};  // 503 answers in progress
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> next_connection_id_{0};
    std::mutex connections_mutex_;  // guards connections_ (the shutdown path reads it)
    std::unordered_map<std::uint64_t, std::weak_ptr<connection>> connections_;
};

}  // namespace

int run_server(server_options const& options, std::shared_ptr<service_state const> state,
               std::function<void(listen_address const&)> const& on_listening) {
    if (!state || !state->schemas) throw std::invalid_argument("run_server needs a service state");
    server s(options, std::move(state));
    return s.run(on_listening);
}

}  // namespace cds::service
