#pragma once
// Fetching absent prefetch keys from the EHR's FHIR server over HTTP(S) (CDS Hooks 2.0
// "FHIR Resource Access").
//
// What one fetch() does, all bounded by the request's deadline:
//  - refuses outright (every key fails, nothing is sent) when fetching is not configured,
//    the request has no fhirServer, or fhirServer is not on the allowlist;
//  - resolves each template's prefetch tokens; a key whose tokens cannot be resolved fails
//    alone and is not sent;
//  - runs the remaining queries concurrently, each following Bundle.link[next] up to
//    `max_pages`, re-checking every next link against the allowlist and the fhirServer
//    origin, merging the pages into one searchset Bundle;
//  - then reads, concurrently, every Medication that a fetched MedicationRequest/Statement
//    names in medicationReference but the Bundle does not include, and adds it as an
//    `include` entry;
//  - retries an idempotent GET on connection failures, a connection closed before any
//    answer, and 5xx, with exponential backoff, only while the deadline leaves time.
// Results: a search key gets one searchset Bundle (all pages, no links); a read key gets the
// resource, or JSON null when the server answers 404/410 (no such resource: what a CDS client
// sends as a null prefetch). Failures are per key, in words for the client.
// The access token goes only to fhirServer's origin (scheme, host, port), is never logged and
// never appears in a failure text or note (a server that quotes it back in an OperationOutcome
// has it replaced by "[redacted]"). Failure texts quote fetch_request::budget as the deadline
// when it is set.
//
// Thread-safety: one instance serves every request on every thread. Idle connections are
// pooled per execution context (an Asio service), so they are closed with the io_context.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cds/service/fhir_client/fhir_allowlist.hpp"
#include "cds/service/fhir_client/prefetch_fetcher.hpp"

namespace cds::service::fhir_client {

struct fhir_client_options {
    // --fhir-allow URL (repeatable): FHIR server base URLs the service may contact. Empty:
    // fetching is off and every absent key fails with a reason saying so.
    std::vector<std::string> allow;
    // --fhir-deadline: the whole fetch (all queries, pages, Medication reads, retries)
    // ends by then. Used when fetch_request.deadline is left unset (the epoch).
    std::chrono::milliseconds deadline{default_fetch_deadline};
    // --fhir-max-pages: next links followed per query, counting the first page.
    int max_pages = 10;
    // --fhir-max-response-mib: a single HTTP answer larger than this fails its query.
    std::size_t max_response_bytes = std::size_t{32} * 1024 * 1024;
    // --fhir-ca-file: an extra PEM CA bundle trusted besides the system store (test servers,
    // hospital-internal CAs). Certificate verification is never turned off.
    std::string extra_ca_file;
    // --fhir-max-url-bytes, --fhir-max-url-segments: fhirServer, next links and redirects
    // beyond these are refused before they are parsed.
    url_limits url;
    // --fhir-max-medication-reads: Medications read per call for fetched medication orders
    // that name them without including them; the rest are named as not read.
    std::size_t max_medication_reads = 100;
    // --fhir-max-connections-per-origin: requests in flight at once to one FHIR server origin,
    // over all calls; more wait for a free connection within their deadline. Idle pooled
    // connections (max_idle_per_origin) come on top.
    std::size_t max_connections_per_origin = 16;
    // Attempts per GET (first try included) for retryable failures.
    int max_attempts = 3;
    // Idle keep-alive connections kept per FHIR server origin, and for how long; the pool
    // belongs to an io_context, so with `--io-model per-thread` each server thread keeps its
    // own (and reuses only its own). One call runs its queries in parallel (10 for the bundled
    // rule set), so fewer pooled connections than that would make every call open new ones. A
    // server's own `Keep-Alive: timeout=N` shortens the wait (see keep_alive_reuse_window).
    std::size_t max_idle_per_origin = 16;
    std::chrono::milliseconds idle_timeout{30000};
};

// How long an idle connection may be reused after a response carrying `keep_alive_header`
// (RFC 9112 leaves the idle timeout to each side; many servers announce theirs in the
// non-standard but widespread `Keep-Alive: timeout=N, max=M`). Reuse stops one second before
// the server's announced timeout, so a request is not sent on a connection the server is
// closing (Node's default is 5 s, Apache's 5 s): `configured` when the header names no
// timeout, zero when the connection should not be reused at all (timeout <= 1 s or max=0).
[[nodiscard]] std::chrono::milliseconds keep_alive_reuse_window(
    std::string_view keep_alive_header, std::chrono::milliseconds configured);

class http_fhir_fetcher final : public prefetch_fetcher {
public:
    // Start-up: throws std::invalid_argument naming the problem for a bad --fhir-allow entry,
    // an unreadable CA file or out-of-range limits.
    explicit http_fhir_fetcher(fhir_client_options options);
    ~http_fhir_fetcher() override;
    http_fhir_fetcher(http_fhir_fetcher const&) = delete;
    http_fhir_fetcher& operator=(http_fhir_fetcher const&) = delete;

    boost::asio::awaitable<fetch_outcome> fetch(fetch_request request) override;

    fhir_client_options const& options() const;
    // TCP connections opened so far (for tests of connection reuse and of "nothing sent").
    std::uint64_t connections_opened() const;

    struct impl;  // opaque: keeps Beast and OpenSSL out of this header

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace cds::service::fhir_client
