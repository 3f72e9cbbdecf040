#pragma once
// The HTTP/1.1 server: an acceptor and one coroutine per connection on a shared io_context
// run by N threads, or on one io_context per thread (io_model; Boost.Beast, C++20 coroutines),
// plain HTTP or HTTPS (TLS 1.2+). The session enforces the transport limits of
// service_state::limits (header and body size, read/idle/write timeouts, connection count) and
// hands each complete request to handle_request. This header keeps Beast out of its includers; only
// http_server.cpp compiles the server's Beast code.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cds/service/cds/rules_reload.hpp"
#include "cds/service/cds/service_state.hpp"

namespace cds::service {

struct listen_address {
    std::string host;  // IPv4 or IPv6 literal (no brackets)
    std::uint16_t port = 0;
};

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" (port 0: the system picks a free port).
[[nodiscard]] std::optional<listen_address> parse_listen_address(std::string_view text);

// HTTPS (`serve --tls-cert FILE --tls-key FILE`). TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE
// key exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305: Mozilla's "intermediate"
// profile); no TLS compression (CRIME), no renegotiation.
struct tls_options {
    std::string certificate_chain_file;  // PEM: the server certificate, then intermediates
    std::string private_key_file;        // PEM, unencrypted (nobody is there to type a passphrase)
    // A connection that has not completed its handshake within this time is closed.
    std::chrono::milliseconds handshake_timeout{std::chrono::seconds{10}};
};

// Loads and checks the certificate chain and key the way the server will (readable, PEM,
// the key matches the certificate). Throws std::runtime_error with a message naming the
// file and the problem: a start-up error. run_server calls it too.
void check_tls_files(tls_options const& tls);

// How the server threads share connections (`serve --io-model`).
enum class io_model {
    // One io_context run by every thread, a strand per connection: a ready connection is
    // served by whichever thread is free, so a busy or descheduled thread delays no one else.
    shared,
    // One io_context per thread, each new connection to the one with the fewest open
    // (connection_spread.hpp): no strand and no cross-thread wake-ups (fewer instructions and
    // syscalls per request, more requests/s), but a connection waits while its own thread is
    // busy with a slow request or descheduled.
    per_thread,
};

struct server_options {
    listen_address listen{"127.0.0.1", 8080};
    unsigned threads = 0;  // 0: std::thread::hardware_concurrency()
    io_model io = io_model::per_thread;
    // After SIGTERM/SIGINT: how long in-flight requests may take before the process stops anyway.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds{10}};
    // After answering an error that closes the connection before the request was fully read
    // (413, 431, malformed HTTP), the rest of what the client sends is read and discarded for
    // this long, so that it receives the answer instead of a reset (the lingering close that
    // nginx and Apache do).
    std::chrono::milliseconds linger_timeout{std::chrono::seconds{2}};
    // Set: serve HTTPS only on the listen address; unset: plain HTTP.
    std::optional<tls_options> tls;
    // What SIGHUP (and --rules-watch) reloads.
    rules_reload_options rules_reload;
};

// Listens, serves until SIGINT or SIGTERM, then stops accepting, lets in-flight requests
// finish (keep-alive connections are closed after their current response) and returns 0.
// `on_listening` is called once with the bound address (the real port when port 0 was asked).
// SIGHUP reloads the rule file (rules_reload.hpp) and the service keeps serving.
// Throws std::runtime_error when it cannot listen (a start-up error).
int run_server(server_options const& options,
               std::shared_ptr<service_state const> state,
               std::function<void(listen_address const&)> const& on_listening);

}  // namespace cds::service
