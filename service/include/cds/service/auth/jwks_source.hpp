#pragma once
// Where a trusted issuer's JWK Set comes from: a file read at start-up, or an HTTPS URL the
// verifier fetches when it meets an unknown `kid` (rate-limited by the verifier, not here).
// The interface is what the verifier depends on, so tests can substitute their own source.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cds::service::auth {

struct jwks_fetch_result {
    std::optional<std::string> body;  // the document, when it could be obtained
    std::string error;                // otherwise, why (fit for a log line)
};

class jwks_source {
public:
    virtual ~jwks_source() = default;
    // The file path or the URL, for log lines and for matching a token's `jku`.
    [[nodiscard]] virtual std::string const& location() const = 0;
    // Remote sources are refetched on an unknown kid and when their copy ages; files are not.
    [[nodiscard]] virtual bool is_remote() const = 0;
    // Blocking; a remote source bounds its own time (connect + TLS + response). Never throws
    // on I/O or data errors. The verifier calls it from at most one thread at a time.
    [[nodiscard]] virtual jwks_fetch_result fetch() = 0;
};

// Reads the whole file (bounded by max_jwks_bytes) on each fetch.
class file_jwks_source final : public jwks_source {
public:
    explicit file_jwks_source(std::filesystem::path path);
    [[nodiscard]] std::string const& location() const override { return location_; }
    [[nodiscard]] bool is_remote() const override { return false; }
    [[nodiscard]] jwks_fetch_result fetch() override;

private:
    std::filesystem::path path_;
    std::string location_;
};

struct https_jwks_options {
    // Whole fetch: DNS, TCP connect, TLS handshake, request and response.
    std::chrono::milliseconds timeout{3000};
    // PEM bundle of trusted CAs; empty = the system's default trust store. Tests point it at
    // a CA they generate, so the real TLS path (verification, host name check) is exercised.
    std::string ca_file;
};

// GET over HTTPS with Boost.Beast + Asio SSL: TLS 1.2 or later, peer certificate verified
// against the CA bundle, host name (or IP address literal) checked against the certificate,
// SNI sent for DNS names, only a 200 answer accepted, no redirects followed, body bounded
// by max_jwks_bytes. Only `https://` URLs are accepted (construction throws
// std::invalid_argument otherwise, as does an unreadable CA file: both are start-up errors).
class https_jwks_source final : public jwks_source {
public:
    https_jwks_source(std::string url, https_jwks_options options);
    ~https_jwks_source() override;
    https_jwks_source(https_jwks_source const&) = delete;
    https_jwks_source& operator=(https_jwks_source const&) = delete;

    [[nodiscard]] std::string const& location() const override { return url_; }
    [[nodiscard]] bool is_remote() const override { return true; }
    [[nodiscard]] jwks_fetch_result fetch() override;

private:
    struct impl;
    std::string url_;
    std::unique_ptr<impl> impl_;
};

// "https://..." -> https_jwks_source, anything else -> a file path. "http://" is refused
// (std::invalid_argument): keys fetched in clear text could be replaced on the way.
[[nodiscard]] std::unique_ptr<jwks_source> make_jwks_source(std::string const& location,
                                                            https_jwks_options const& options);

}  // namespace cds::service::auth
